"""Property tests: credit is the sum of distinct accepted amounts, whatever the sequence."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hil.meter.events import EventName
from hil.sts.amount import decode_amount, encode_amount
from tests.meter.helpers import TID0, R, credit, meter

# A fixed pool of credit tokens (TID offset, amount in 0.1 kWh units); encoded once.
POOL = [
    (o, a)
    for o, a in zip(
        [3, 17, 5, 40, 41, 8, 100, 2, 63, 77, 12, 29],
        [1, 256, 16_383, 16_384, 20_000, 7, 999, 180_224, 50, 3, 12, 1_000],
        strict=True,
    )
]
DIGITS = [credit(TID0 + offset, amount) for offset, amount in POOL]
UNITS = [decode_amount(encode_amount(amount)) for _, amount in POOL]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=40))
def test_credit_is_sum_of_distinct_accepted_amounts(sequence: list[int]) -> None:
    m = meter()
    accepted: list[int] = []
    for n, i in enumerate(sequence):
        out = m.enter_token(DIGITS[i], 0.001 * (n + 1))
        if out.result is R.ACCEPT:
            assert i not in accepted, "a TID was accepted twice"
            accepted.append(i)
        elif out.result is not R.LOCKOUT:  # replays lock the keypad now and then
            assert out.result in (R.USED, R.OLD) and out.credit_delta_wh == 0
            assert i in accepted or POOL[i][0] + TID0 < m.tid_memory[0]
    assert m.credit_wh == 100 * sum(UNITS[i] for i in accepted)
    assert m.tid_memory == sorted(TID0 + POOL[i][0] for i in accepted)


_OPS = st.one_of(
    st.tuples(st.just("submit"), st.integers(0, len(POOL) - 1)),
    st.tuples(st.just("wait"), st.floats(0.0, 0.01)),
    st.tuples(st.just("cycle"), st.floats(0.0, 0.01)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_OPS, min_size=1, max_size=40))
def test_power_cycles_never_duplicate_or_lose_credit(ops: list[tuple]) -> None:
    m = meter()
    t = 0.0
    events = []
    for kind, arg in ops:
        if kind == "submit":
            events += m.submit_token(DIGITS[arg], t)
        elif kind == "wait":
            t += arg
            events += m.advance(t)
        else:
            events += m.power_off(t)
            t += arg
            events += m.power_on(t)
    events += m.advance(t + 1.0)
    accepted = [
        e.data["tid"]
        for e in events
        if e.name == EventName.TOKEN_RESULT and e.data["result"] == R.ACCEPT
    ]
    assert len(accepted) == len(set(accepted))
    by_tid = {TID0 + offset: units for (offset, _), units in zip(POOL, UNITS, strict=True)}
    assert m.credit_wh == 100 * sum(by_tid[tid] for tid in accepted)
    assert m.tid_memory == sorted(accepted)
