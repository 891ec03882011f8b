"""Imports point down the layers: the token engine knows nothing of benches, the meter model
nothing of pytest, the report nothing of the rig it came from. A module may import its own
package and anything in a lower layer, never a higher or a sibling one."""

from __future__ import annotations

import ast
from pathlib import Path

import hil

PACKAGE_ROOT = Path(hil.__file__).parent

LAYERS: list[set[str]] = [
    {"errors", "crc16", "paths", "closing"},  # no hil imports at all
    {"yamlfile"},
    {"sts", "dlms"},  # the token engine and the DLMS codec: pure protocol logic
    {"probe", "meter", "vectors"},  # the probe wire format; the meter model
    {"display"},  # the meter's LCD: its map, rendering and reading (pure image work)
    {"rig", "plan"},  # the bench and its drivers; run-time estimates
    {"sim", "broker", "conformance"},  # simulated bench; rig leases; the oracle and checks
    {"report"},
    {"pytest_plugin", "robot"},  # the two front ends
    {"run", "selftest"},
    {"cli", "data"},  # the commands, and the suites shipped as package data
    {"__main__"},
]
LAYER_OF = {name: depth for depth, names in enumerate(LAYERS) for name in names}


def _imports(path: Path) -> set[str]:
    """The hil packages a file imports (at the top or inside a function)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found |= {n.split(".")[1] for n in names if n.startswith("hil.")}
    return found


def _package(path: Path) -> str:
    rel = path.relative_to(PACKAGE_ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_every_module_belongs_to_a_layer():
    packages = {_package(p) for p in PACKAGE_ROOT.rglob("*.py")} - {"__init__"}
    assert packages <= set(LAYER_OF), f"put these in a layer: {sorted(packages - set(LAYER_OF))}"


def test_imports_point_down_the_layers():
    wrong = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        own = _package(path)
        if own == "__init__":
            continue
        for target in _imports(path) - {own}:
            if LAYER_OF.get(target, -1) >= LAYER_OF[own]:
                wrong.append(f"{path.relative_to(PACKAGE_ROOT)} imports hil.{target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_check_sees_an_upward_import(tmp_path):
    # The rule itself can fail: a token engine module importing the rig is caught.
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from hil.rig.rig import Rig\n    return Rig\n")
    assert "rig" in _imports(module) and LAYER_OF["rig"] >= LAYER_OF["sts"]
