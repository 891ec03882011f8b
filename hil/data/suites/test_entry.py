"""Token entry: a keypad entry that is not a 20-digit token.

A token is printed as exactly 20 decimal digits (sts-notes 2, step 6); a meter refuses a
badly formed entry with Format (result 6, sts-notes 11; docs/probe-protocol.md). Such an
entry is no token, so it is judged here by checks and notes, not recorded as a token step.
"""

import pytest

from hil.conformance.factory import Case

# About one token in seven starts with 0 (2^66 - 1 is 7.4e19); 300 tries never all miss.
LEADING_ZERO_TRIES = 300


def _leading_zero_credit(session) -> Case:
    """A fresh credit token whose digits start with 0. The ones passed over are never
    entered: their TIDs are simply unused."""
    for _ in range(LEADING_ZERO_TRIES):
        case = session.tokens.credit(10)
        if case.digits.startswith("0"):
            return case
    raise RuntimeError(f"no credit token with a leading 0 in {LEADING_ZERO_TRIES} TIDs")


@pytest.mark.clause("FORMAT")
@pytest.mark.requires("keypad")
@pytest.mark.cost(keys=12 + 1 + 19 + 1, tokens=1)
def test_short_entry_is_refused_as_format(session):
    """Fewer than 20 digits and ENTER: Format, nothing changes, and the token it was cut
    from is still accepted afterwards. The 19-digit entry is a real token without its
    leading 0: a meter that reads the entry as a number would take it."""
    keypad = session.rig.keypad
    if keypad is None or keypad.enter_key is None:
        pytest.skip("the keypad has no ENTER key: the meter submits at the 20th digit, and a "
                    "short entry times out instead of being refused (bench-notes 1.3)")  # fmt: skip
    case = _leading_zero_credit(session)
    session.enter_malformed(case.digits[:12], "the first 12 digits of a token", "FORMAT")
    session.enter_malformed(case.digits[1:], "a token without its leading 0", "FORMAT")
    session.inject(case)  # the whole token: accepted, once
    session.check_state()


# -- KEYPAD-ENTRY: editing, timeout, submission and keys the meter must ignore --------------


def _keypad_with(session, *keys: str):
    keypad = session.rig.keypad
    missing = [k for k in keys if keypad is None or k not in keypad.keys]
    if missing:
        pytest.skip(f"the rig's keypad wiring has no {', '.join(missing)} key")


def _submit(session) -> list[str]:
    """The keys after the 20 digits that submit an entry: ENTER, or none where the meter
    submits at the 20th digit (its meter file's keypad.submit)."""
    return [] if session.rig.profile.keypad.auto_submit_at_20 else ["ENTER"]


@pytest.mark.clause("KEYPAD-ENTRY")
@pytest.mark.requires("keypad")
@pytest.mark.cost(tokens=1, keys=2)
def test_back_deletes_the_last_digit(session):
    """Half a token, a wrong digit, BACK, then the rest: the meter takes the corrected token
    (bench-notes 1.3: BACK removes the rightmost digit). The correction is made at the 11th
    digit, so a meter that submits at the 20th digit gets the same entry."""
    session.require_function("keypad:back")
    _keypad_with(session, "BACK", *_submit(session))
    case = session.tokens.credit(10)
    d = case.digits
    wrong = str((int(d[10]) + 1) % 10)
    keys = [*d[:10], wrong, "BACK", *d[10:], *_submit(session)]
    session.inject_typed(case, keys, "11th digit mistyped and deleted with BACK")
    session.check_state()


@pytest.mark.clause("KEYPAD-ENTRY")
@pytest.mark.requires("keypad")
@pytest.mark.cost(tokens=1, keys=10, entry_timeouts=1)
def test_partial_entry_is_discarded_after_the_inter_digit_timeout(session):
    """Ten digits and then nothing: after the inter-digit timeout (the timing profile's
    keypad.inter_digit_timeout_s; 10-30 s on real meters, bench-notes 1.3) the meter has
    discarded them, so the whole token typed next is taken as it is. A meter that kept the
    ten would hold 20 digits after ten more and never see the token. The wait allows a
    quarter of the timeout and 1 s on top for the meter's timer tick."""
    session.require_function("keypad:entry_timeout")
    first = session.tokens.credit(10)
    session.press_keys(list(first.digits[:10]), "the first 10 digits of a token, then nothing")
    timeout_s = session.rig.profile.keypad.inter_digit_timeout_s
    session.let_time_pass(timeout_s * 1.25 + 1.0)
    session.inject(first, via="keypad")  # the whole token: accepted
    session.check_state()


@pytest.mark.clause("KEYPAD-ENTRY")
@pytest.mark.requires("keypad")
@pytest.mark.cost(tokens=1, wait_s=3.0)
def test_entry_is_submitted_as_declared(session):
    """ENTER submits, or the 20th digit does, as the meter file declares (bench-notes 1.3:
    L+G processes the 20th digit; Itron and Siemens CIUs wait for ENTER). A meter that waits
    for ENTER must not decide 20 digits by themselves: it is given time for its processing
    and more (4 x processing_s + 1 s, at most half the inter-digit timeout, so the entry is
    still held), then ENTER."""
    session.require_function("keypad:submit")
    case = session.tokens.credit(10)
    if session.rig.profile.keypad.auto_submit_at_20:
        session.inject_typed(case, list(case.digits), "20 digits, no ENTER")
        session.check_state()
        return
    _keypad_with(session, "ENTER")
    p = session.rig.profile
    before = session.rig.read_credit()  # once the digits are typed, a display shows them
    session.press_keys(list(case.digits), "20 digits, no ENTER yet")
    wait_s = min(4 * p.processing_s + 1.0, p.keypad.inter_digit_timeout_s / 2)
    session.expect_no_result(wait_s / session.rig.speed, "20 digits without ENTER: not decided")
    session.inject_typed(case, ["ENTER"], "then ENTER", credit_before=before)
    session.check_state()


@pytest.mark.clause("KEYPAD-ENTRY")
@pytest.mark.requires("keypad")
@pytest.mark.cost(tokens=2, keys=2)
def test_keys_during_processing_and_result_display_are_ignored(session):
    """A digit pressed right after a token is submitted, and one pressed while its result is
    shown, are ignored (bench-notes 1.3: the keypad is locked while the meter processes and
    shows the result): the next token typed is taken whole. A press is only aimed where it
    must land in time: it registers about 2 x press_s + release_s after the submitting key,
    which must be within two thirds of processing_s + result_hold_s; the one after the
    result needs result_hold_s of at least four key periods (press_s + release_s)."""
    p = session.rig.profile
    key = p.keypad
    landing_s = 2 * key.press_s + key.release_s
    window_s = p.processing_s + p.result_hold_s
    if 1.5 * landing_s > window_s:
        pytest.skip(f"processing and result display ({window_s:g} s) are too short to aim a "
                    f"key press inside them ({landing_s:g} s to land)")  # fmt: skip
    _keypad_with(session, *_submit(session))
    during_display = p.result_hold_s >= 4 * key.key_period_s
    if not during_display:
        session.note(f"result display {p.result_hold_s:g} s is under four key periods: "
                     "no key is aimed at it")  # fmt: skip
    first = session.tokens.credit(10)
    session.inject_typed(first, [*first.digits, *_submit(session)], "then a digit at once",
                         stray=[first.digits[0]],
                         after_result=[first.digits[1]] if during_display else [])  # fmt: skip
    session.inject(session.tokens.credit(10), via="keypad")  # taken whole
    session.check_state()
