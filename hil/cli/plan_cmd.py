"""``hil run --plan``: each selected test's physical minimum on a rig, before anything runs.

The tests come from pytest's collection (in-process, nothing opened, nothing journaled)
and Robot's suite builder; what each asks of the meter is its ``cost`` declaration
(``@pytest.mark.cost``, Robot tags ``cost:FIELD=VALUE``); ``hil.plan`` turns it into seconds
with the rig's timing profile and capabilities. The rig file is read, the bench is not
opened.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from hil.meter.profile_file import load_profile, profile_path
from hil.plan import (
    LONG_MARKER,
    ROBOT_DEFAULT_TOKENS,
    Bench,
    Cost,
    CostError,
    Estimate,
    duration_text,
    estimate_run,
)
from hil.rig.config import RigConfig
from hil.sts.keys import KEY_BITS

WIDTH = 80


@dataclass(frozen=True)
class PlannedTest:
    """A selected test: where it is, what it declares and whether it runs on the rig."""

    group: str  # its file: test_tid.py, robot/credit.robot
    name: str  # test name (with its parameters)
    cost: Cost | None  # None: the test declares no cost
    skip: str = ""  # why it will not run on this rig
    robot: bool = False
    defaulted: bool = False  # a Robot test costed at the default (no cost tags)
    long: bool = False  # marked (pytest) or tagged (Robot) long: hil run --quick leaves it out


def bench_for(config: RigConfig) -> Bench:
    """The estimator's view of a rig: profile, capabilities, entry paths, key size."""
    profile = load_profile(profile_path(config.meter.profile))
    bits = KEY_BITS.get(config.meter.ea, 128)
    return Bench(
        profile,
        load_max_w=config.capabilities.load_max_w,
        key_sections=4 if bits == 128 else 2,
        entry_by_carrier=config.token_entry == "virtual_carrier",
        bulk_by_carrier="virtual_carrier" in config.features,
        speed=config.simulator.speed if config.simulator else 1.0,
    )


def rig_features(config: RigConfig) -> set[str]:
    """What the pytest plugin lets ``requires`` markers have (fault_injection: simulators)."""
    return {*config.features, *(["fault_injection"] if config.simulator else [])}


class _CostCollector:
    """A pytest plugin keeping each selected item's cost and ``requires`` markers."""

    def __init__(self, features: set[str]) -> None:
        self.features = features
        self.tests: list[PlannedTest] = []

        self.error: CostError | None = None
        self.broken: list[str] = []  # files pytest could not collect, with the reason

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            lines = [line for line in str(report.longrepr).splitlines() if line.strip()]
            reason = lines[-1].lstrip("E ").strip() if lines else "collection failed"
            self.broken.append(f"{report.nodeid or 'collection'}: {reason}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from hil.run import short_id

        for item in session.items:
            marks = [m.kwargs for m in item.iter_markers("cost")]
            cost = None
            try:
                for kwargs in marks:
                    cost = (cost or Cost()) + Cost.of(**kwargs)
            except CostError as exc:  # pytest would bury it in an internal error
                self.error = self.error or CostError(f"{item.nodeid}: {exc}")
                continue
            needed = [f for m in item.iter_markers("requires") for f in m.args]
            missing = [f for f in needed if f not in self.features]
            file, _, name = short_id(item.nodeid).partition("::")
            skip = f"rig lacks {', '.join(missing)}" if missing else ""
            long = item.get_closest_marker(LONG_MARKER) is not None
            self.tests.append(PlannedTest(f"{file}.py", name, cost, skip, long=long))


def collect_pytest(args: list[str], config: RigConfig) -> list[PlannedTest]:
    """The selected pytest tests with their costs (pytest_args of the run)."""
    from hil.errors import ConfigError
    from hil.run import collect_only

    collector = _CostCollector(rig_features(config))
    status = collect_only(args, collector)
    if collector.error is not None:
        raise collector.error
    if collector.broken:
        raise ConfigError(f"pytest could not collect {collector.broken[0]}")
    if status not in (0, 5):  # 5: nothing selected
        raise ConfigError(f"pytest could not collect the selection (exit status {status})")
    return collector.tests


def collect_robot(suites: Path, clauses: Sequence[str], config: RigConfig) -> list[PlannedTest]:
    """The Robot tests the run would have: ``cost:`` tags where given, else the default;
    ``Require Rig Feature`` steps the rig cannot meet make a test a skip."""
    from robot.api import TestSuiteBuilder

    suite = TestSuiteBuilder().build(str(suites))
    if clauses:
        suite.filter(included_tags=[f"req:{c}" for c in clauses])
    features = rig_features(config)
    tests = []
    for test in suite.all_tests:
        try:
            cost = Cost.from_tags(test.tags)
        except CostError as exc:  # name the test: the tag alone does not say where it is
            raise CostError(f"{Path(str(test.source)).name}: {test.name}: {exc}") from None
        needed = [str(a) for step in test.body
                  if str(getattr(step, "name", "") or "").lower() == "require rig feature"
                  for a in getattr(step, "args", ())]  # fmt: skip
        missing = [f for f in needed if f not in features]
        tests.append(PlannedTest(
            f"robot/{Path(str(test.source)).name}", test.name,
            cost or Cost(tokens=ROBOT_DEFAULT_TOKENS),
            f"rig lacks {', '.join(missing)}" if missing else "", robot=True,
            defaulted=cost is None, long=test.tags.match(LONG_MARKER),
        ))  # fmt: skip
    return tests


NBSP = "\u00a0"  # keeps a number with its unit when a line is wrapped


def _wrap(text: str, indent: str = "", more: str | None = None) -> list[str]:
    glued = re.sub(r"(?<=\d) (?=(s|min|h|W)\b)|(?<=\bmin) (?=\d)|(?<=\bh) (?=\d)", NBSP,
                   text)  # fmt: skip
    lines = textwrap.wrap(glued, WIDTH, initial_indent=indent,
                          subsequent_indent=indent if more is None else more)  # fmt: skip
    return [line.replace(NBSP, " ") for line in lines]


def _tokens_text(one: Estimate) -> str:
    parts = []
    if one.keypad_tokens:
        parts.append(f"{one.keypad_tokens} keypad")
    if one.carrier_tokens:
        parts.append(f"{one.carrier_tokens} carrier")
    if not parts:
        return "no token"
    return " + ".join(parts) + (" token" if one.tokens == 1 else " tokens")


def _row(left: str, right: str, indent: int = 0) -> str:
    """``left`` and ``right`` on one line of WIDTH, ``left`` clipped if it must be."""
    room = WIDTH - len(right) - indent - 2
    if len(left) > room:
        left = left[: room - 1] + "…"
    return " " * indent + left.ljust(room) + "  " + right


def _parts(one: Estimate) -> str:
    return (f"entry {duration_text(one.entry_s)}, processing {duration_text(one.processing_s)}"
            f", display {duration_text(one.display_s)}")  # fmt: skip


def _waits(one: Estimate) -> str:
    return ", ".join(f"{name} {duration_text(s)}" for name, s in one.waits.items())


def plan_lines(rig: str, bench: Bench, tests: Sequence[PlannedTest],
               left_out: Sequence[PlannedTest] | None = None) -> list[str]:  # fmt: skip
    """The plan as text lines of at most WIDTH columns. ``left_out``: a quick plan's long
    tests (hil run --quick), named in a note with the time they would have taken."""
    p = bench.profile
    k = p.keypad
    lines = _wrap(
        f"hil run --plan: rig {rig}, timing profile {p.name}; nothing runs and the bench is "
        f"not opened. Per keypad token: {bench.keys_per_token} keys x ({k.press_s:g} s + "
        f"{k.release_s:g} s) = {duration_text(bench.keypad_token_s)}; processing "
        f"{p.processing_s:g} s; result shown {p.result_hold_s:g} s before the next token. "
        f"Bulk tokens and key change sets: "
        f"{'virtual carrier' if bench.bulk_by_carrier else 'keypad'}"
        f" ({bench.key_sections} sections a set). Waits from the profile and the rig's "
        f"capabilities (load_max_w {bench.load_max_w:g} W)"
        + (f"; clock x{bench.speed:g}" if bench.speed != 1 else "") + "."
    )  # fmt: skip
    estimates = estimate_run([None if t.skip else t.cost or Cost() for t in tests], bench)
    groups: dict[str, list[tuple[PlannedTest, Estimate | None]]] = {}
    for test, one in zip(tests, estimates, strict=True):
        groups.setdefault(test.group, []).append((test, one))
    total = Estimate()
    undeclared = skipped = 0
    for group, members in groups.items():
        group_s = sum(one.total_s for _, one in members if one is not None)
        count = f"{len(members)} test" + ("s" if len(members) != 1 else "")
        lines += ["", _row(group, f"{count} {duration_text(group_s):>9}")]
        for test, one in members:
            if test.skip:
                skipped += 1
                lines.append(_row(test.name, f"{'skip':>9}", 2))
                lines.append(f"    {test.skip}: will be skipped")
                continue
            assert one is not None
            total = total + one
            mark = "" if test.cost is not None and not test.cost.empty else "?"
            undeclared += test.cost is None
            lines.append(_row(test.name, f"{mark}{duration_text(one.total_s):>9}", 2))
            lines.append(f"    {_tokens_text(one)}: {_parts(one)}"[:WIDTH])
            if one.waits:
                lines += _wrap(f"waits: {_waits(one)}", "    ", "      ")
    ran = len(tests) - skipped
    lines += ["", _row(f"total on rig {rig} (profile {p.name}): {ran} test"
                       + ("s" if ran != 1 else ""),
                       duration_text(total.total_s))]  # fmt: skip
    lines += _wrap(
        f"{total.tokens} tokens ({total.keypad_tokens} on the keypad); keypad entry "
        f"{duration_text(total.entry_s)}, processing {duration_text(total.processing_s)}, "
        f"result display {duration_text(total.display_s)}, waits "
        f"{duration_text(total.waits_s)}" + (f" ({_waits(total)})" if total.waits else "")
        + (f"; {total.total_s:.0f} s in all." if total.total_s >= 60 else "."), "  "
    )  # fmt: skip
    notes = []
    if skipped:
        notes.append(f"{skipped} selected test(s) will be skipped on this rig (0 s).")
    robot = [t for t in tests if t.robot and not t.skip]
    defaulted = sum(t.defaulted for t in robot)
    if robot:
        notes.append(
            f"Robot Framework tests: {len(robot) - defaulted} estimated from their [Tags] "
            f"cost:FIELD=VALUE, {defaulted} without such tags at a default of "
            f"{ROBOT_DEFAULT_TOKENS} keypad tokens and no waits each."
        )
    if undeclared:
        notes.append(f"{undeclared} test(s) marked ? declare no cost "
                     "(@pytest.mark.cost): counted as 0 s.")  # fmt: skip
    if left_out is not None:
        count = len(left_out)
        notes.append(
            f"Quick selection (hil run --quick): {count} {LONG_MARKER} "
            f"test{'' if count == 1 else 's'} left out, "
            f"{duration_text(plan_total_s(bench, left_out))} of this rig's time."
        )
    notes.append("A physical minimum: the harness's own time (start-up, readbacks, reports) "
                 "comes on top.")  # fmt: skip
    for note in notes:
        lines += _wrap(note, "  ")
    return lines


def plan_total_s(bench: Bench, tests: Iterable[PlannedTest]) -> float:
    """The physical minimum of these tests, in order, on ``bench``."""
    listed = list(tests)
    estimates = estimate_run([None if t.skip else t.cost or Cost() for t in listed], bench)
    return sum(one.total_s for one in estimates if one is not None)
