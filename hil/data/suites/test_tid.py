"""Token identifiers: replay (Used), Old, the TID memory's depth and its window."""

import pytest

from hil.conformance.steps import check_state, inject


@pytest.mark.clause("TID-USED")
def test_replayed_token_is_used(rig, tokens, oracle, evidence):
    case = tokens.credit(50)
    inject(rig, oracle, evidence, case)
    inject(rig, oracle, evidence, case)
    check_state(rig, oracle, evidence)


def _fill(rig, tokens, oracle, evidence, count, via):
    """Enter ``count`` fresh 0.1 kWh tokens; return their cases in order."""
    cases = [tokens.credit(1) for _ in range(count)]
    for case in cases:
        inject(rig, oracle, evidence, case, via=via)
    return cases


@pytest.mark.clause("TID-MEMORY-DEPTH", "TID-OLD", "TID-USED")
def test_tid_memory_depth_both_sides_of_the_boundary(rig, tokens, oracle, evidence, bulk):
    """With depth N, after N+1 tokens the first is Old and the second still Used."""
    depth = int(rig.info()["tid_mem_depth"])
    cases = _fill(rig, tokens, oracle, evidence, depth + 1, bulk)
    evidence.note(f"meter declares a TID memory of {depth}; entered {depth + 1} tokens")
    inject(rig, oracle, evidence, cases[1], via=bulk)  # still remembered: Used
    inject(rig, oracle, evidence, cases[0], via=bulk)  # pushed out: Old
    check_state(rig, oracle, evidence)


@pytest.mark.clause("TID-OLD")
def test_token_older_than_the_memory_is_old(rig, tokens, oracle, evidence, bulk):
    depth = int(rig.info()["tid_mem_depth"])
    first = tokens.credit(1)
    _fill(rig, tokens, oracle, evidence, depth, bulk)
    inject(rig, oracle, evidence, first, via=bulk)  # never entered, older than all: Old
    inject(rig, oracle, evidence, first, via=bulk)  # and stays refused
    check_state(rig, oracle, evidence)


@pytest.mark.clause("TID-WINDOW-ORDER")
def test_out_of_order_tid_within_the_window_is_accepted(rig, tokens, oracle, evidence):
    oldest, middle, newest = tokens.credit(10), tokens.credit(10), tokens.credit(10)
    inject(rig, oracle, evidence, oldest)
    inject(rig, oracle, evidence, newest)
    inject(rig, oracle, evidence, middle)
    check_state(rig, oracle, evidence)
