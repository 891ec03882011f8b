"""The meter's own logs (real-meters §6): its token log and its event log, read back
(probe GET TOKEN_LOG and GET EVENT_LOG, protocol 2) and compared with what the harness did.

A log holds what happened before the test too, so only its newest entries are compared:
as many as the conforming model saw in this test (up to the declared depth).
"""

import pytest

from hil.conformance.outcome import BenchCannot
from hil.rig.drivers.probe import NotOffered


def _tail(entries: list, count: int) -> list:
    return entries[-count:] if count else []


def _read(read, what: str):
    try:
        return read()
    except NotOffered:
        raise BenchCannot(
            f"the probe does not read the meter's {what} (probe protocol 2)"
        ) from None


@pytest.mark.clause("TOKEN-LOG")
@pytest.mark.requires("power_control")
@pytest.mark.cost(tokens=5, power_cycles=1)
def test_token_log_holds_the_tokens_decided_through_a_power_cycle(session):
    session.require_function("logs:tokens")
    rig, oracle = session.rig, session.oracle
    credit = session.tokens.credit(50)
    session.inject(credit)
    session.inject(credit)  # Used
    session.inject(session.tokens.wrong_meter())  # not decoded: no TID
    session.inject(session.tokens.power_limit(5000))
    session.inject(session.tokens.credit(20))

    def check(what: str) -> None:
        want = oracle.model.token_log
        count = min(len(want), rig.profile.token_log_depth)
        seen = _read(rig.read_token_log, "token log")
        expected = [(e.result, e.tid) for e in _tail(want, count)]
        observed = [(e.result, e.tid) for e in _tail(seen, count)]
        session.check("TOKEN-LOG", f"{what}: newest {count} token log entries (result, TID)",
                      expected=_describe(expected), observed=_describe(observed),
                      ok=observed == expected)  # fmt: skip

    check("after five tokens")
    session.power_cycle()
    check("after a supply cycle")


@pytest.mark.clause("EVENT-LOG")
@pytest.mark.requires("power_control")
@pytest.mark.cost(tokens=3, power_cycles=1)
def test_event_log_records_supply_tamper_and_relay_events(session):
    session.require_function("logs:events")
    rig, oracle = session.rig, session.oracle
    session.inject(session.tokens.clear_credit())  # relay opens for credit
    session.inject(session.tokens.credit(100))  # and closes
    session.power_cycle()
    if rig.has("fault_injection"):
        session.tamper()
        session.await_relay(False, timeout_s=5.0, requirement="TAMPER-DETECT",
                            what="relay opens on tamper")  # fmt: skip
        session.inject(session.tokens.clear_tamper())
    want = [e.describe() for e in oracle.model.event_log]
    count = min(len(want), rig.profile.event_log_depth)
    seen = [_entry(e) for e in _read(rig.read_event_log, "event log")]
    session.check("EVENT-LOG", f"newest {count} event log entries",
                  expected=", ".join(_tail(want, count)) or "none",
                  observed=", ".join(_tail(seen, count)) or "none",
                  ok=_tail(seen, count) == _tail(want, count))  # fmt: skip


def _entry(text: str) -> str:
    """A probe event log entry (NAME, NAME/closed, NAME/open/<reason>) as the model says it."""
    return " ".join(text.split("/"))


def _describe(entries: list[tuple[int, int | None]]) -> str:
    return ", ".join(f"{code}:{'-' if tid is None else tid}" for code, tid in entries) or "none"
