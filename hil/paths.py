"""Where the harness's files are.

The built-in rigs, timing profiles, instrument command maps, requirement catalogue and the
conformance suites ship inside the package (``hil/data``), so an editable install, a wheel and
a pipx tool all find them from any directory. Run output goes under the current directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DATA = Path(str(files("hil") / "data"))
RIGS = DATA / "rigs"
PROFILES = DATA / "profiles"
METERS = DATA / "meters"  # meter files: the optional functions each meter model declares
INSTRUMENT_MAPS = DATA / "instruments"
CATALOGUE = DATA / "requirements.yaml"
SUITES = DATA / "suites"
ROBOT_SUITES = SUITES / "robot"
# Test ids are relative to this folder ("suites/test_credit.py::..."), whatever the install.
SUITES_ROOT = DATA
DEFAULT_RIG = RIGS / "sim.yaml"

# The source checkout, when the package runs from one (pip install -e): its git state is the
# harness identity, and its fixtures/ hold the harness's own test data (the STS vectors).
REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "fixtures"


def reports_dir() -> Path:
    """Where `hil run` writes run directories by default: ./reports under the working dir."""
    return Path.cwd() / "reports"


def resolve_rig(value: str | Path) -> Path:
    """A rig file path as given, or the name of a built-in rig ("sim", "external-sim")."""
    path = Path(value)
    if path.exists() or path.suffix:
        return path
    builtin = RIGS / f"{path.name}.yaml"
    return builtin if builtin.exists() else path
