"""How `hil selftest` judges one defect profile's run (hil.selftest.ProfileRun), on journal
entries as the suites write them."""

from __future__ import annotations

from hil.selftest import CONFORMING, ProfileRun


def _test(verdict: str, clauses: list[str], message: str = "") -> dict:
    return {"nodeid": f"suites/test_x.py::t_{verdict}", "verdict": verdict,
            "clauses": clauses, "message": message, "evidence": None}  # fmt: skip


def test_a_defect_whose_every_test_skipped_is_not_judged_with_the_reasons() -> None:
    run = ProfileRun("no_lockout", {"LOCKOUT"},
                     [_test("skip", [], "readback dlms cannot read the lockout state")])  # fmt: skip
    assert run.not_judged == ["readback dlms cannot read the lockout state"]
    assert run.ok and not run.detecting


def test_a_defect_whose_test_ran_and_passed_is_missed_never_excused() -> None:
    run = ProfileRun("no_old_rule", {"TID-OLD"},
                     [_test("pass", ["TID-OLD"]), _test("skip", [], "readback cannot")])  # fmt: skip
    assert run.not_judged == [] and not run.ok


def test_a_bench_error_or_an_unrun_test_is_never_not_judged() -> None:
    for cut_short in ("error", "not_run"):
        run = ProfileRun("no_lockout", {"LOCKOUT"},
                         [_test(cut_short, ["LOCKOUT"]), _test("skip", [], "cannot")])  # fmt: skip
        assert run.not_judged == [] and not run.ok, cut_short


def test_no_tests_at_all_is_a_problem_and_the_conforming_meter_is_never_excused() -> None:
    assert not ProfileRun("no_lockout", {"LOCKOUT"}).ok
    conforming = ProfileRun(CONFORMING, set(), [_test("skip", [], "cannot")])
    assert conforming.not_judged == [] and conforming.ok
