"""Token identifiers: replay (Used), Old, the TID memory's depth and its window."""

import pytest

# The smallest TID memory a meter may have (IEC 62055-41 §7.3.8, as commonly cited:
# sts-notes.md names ">= 50" without the clause's text).
MIN_TID_MEMORY = 50


@pytest.mark.clause("TID-USED")
@pytest.mark.cost(tokens=2)
def test_replayed_token_is_used(session):
    case = session.tokens.credit(50)
    session.inject(case)
    session.inject(case)
    session.check_state()


def _fill(session, count, via):
    """Enter ``count`` fresh 0.1 kWh tokens; return their cases in order."""
    cases = [session.tokens.credit(1) for _ in range(count)]
    for case in cases:
        session.inject(case, via=via)
    return cases


@pytest.mark.clause("TID-MEMORY-DEPTH", "TID-OLD", "TID-USED")
@pytest.mark.cost(fills=1, bulk=3)
@pytest.mark.long
def test_tid_memory_depth_both_sides_of_the_boundary(session, bulk):
    """With depth N, after N+1 tokens the first is Old and the second still Used."""
    depth = int(session.rig.info()["tid_mem_depth"])
    session.check("TID-MEMORY-DEPTH", "TID memory depth the meter declares (INFO)",
                  expected=f">= {MIN_TID_MEMORY}", observed=depth,
                  ok=depth >= MIN_TID_MEMORY)  # fmt: skip
    cases = _fill(session, depth + 1, bulk)
    session.note(f"meter declares a TID memory of {depth}; entered {depth + 1} tokens")
    # The newest TID is held by any memory: a meter accepting it breaks the Used rule,
    # and says nothing yet about the depth.
    session.inject(cases[-1], via=bulk, requirement="TID-USED")
    # The oldest TID the memory must hold judges its depth: a shallow memory answers Old
    # for it, which is not a fault of the Used or Old rule itself.
    session.inject(cases[1], via=bulk, requirement="TID-MEMORY-DEPTH")  # remembered: Used
    session.inject(cases[0], via=bulk)  # pushed out, older than all held: Old (TID-OLD)
    session.check_state(requirement="TID-MEMORY-DEPTH")


@pytest.mark.clause("TID-OLD")
@pytest.mark.cost(fills=1, bulk=2)
@pytest.mark.long
def test_token_older_than_the_memory_is_old(session, bulk):
    depth = int(session.rig.info()["tid_mem_depth"])
    first = session.tokens.credit(1)
    _fill(session, depth, bulk)
    session.inject(first, via=bulk)  # never entered, older than all: Old
    session.inject(first, via=bulk)  # and stays refused
    session.check_state()


@pytest.mark.clause("TID-WINDOW-ORDER")
@pytest.mark.cost(tokens=3)
def test_out_of_order_tid_within_the_window_is_accepted(session):
    tokens = session.tokens
    oldest, middle, newest = tokens.credit(10), tokens.credit(10), tokens.credit(10)
    session.inject(oldest)
    session.inject(newest)
    session.inject(middle)
    session.check_state()
