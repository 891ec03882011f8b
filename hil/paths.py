"""Where the checkout's data folders are (the package runs from a checkout: pip install -e)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "fixtures"
RIGS = REPO_ROOT / "rigs"
REPORTS = REPO_ROOT / "reports"
