"""Soak: many random tokens through the virtual carrier, the oracle predicting each one.

Opt-in: the file name is outside pytest's ``test_*.py`` pattern, so neither a default
``hil run`` nor ``hil selftest`` collects it; ``hil run --suite soak --no-robot`` does.
``HIL_SOAK_TOKENS`` tokens (default 60) are drawn from a ``random.Random(HIL_SOAK_SEED)``
(default 17), so a failing soak can be replayed token for token: valid credit (random
amounts), mistyped (one random digit of a fresh token changed), foreign (for another meter,
supply group, tariff index, key revision or vending key) and replays of tokens accepted
earlier. Every token goes through ``session.inject``: result, credit change and relay are
judged against the conforming model, so a meter that credits a token it must refuse fails
at that token. After ``after_rejects - 1`` refusals in a row the next token is a valid one,
so the soak measures token handling, not the lockout's back-off (the LOCKOUT test's job).
The rate, tokens per second end to end (generation, entry, readback, judging), is a note.
"""

import os
import random
import time
from collections import Counter

import pytest

from hil.conformance.factory import Case, TokenFactory
from hil.errors import ConfigError
from hil.meter.results import TokenResult


def _setting(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name}: expected a whole number >= 1, got {raw!r}")
    return int(raw)


TOKENS = _setting("HIL_SOAK_TOKENS", 60)
SEED = _setting("HIL_SOAK_SEED", 17)
KINDS = ("valid", "mistyped", "foreign", "replayed")
FOREIGN = ("wrong_meter", "wrong_sgc", "wrong_ti", "wrong_krn", "wrong_vending_key")
TOKEN_BITS = 66  # a 20-digit token carries 66 bits: larger numbers are no token


def mistyped(tokens: TokenFactory, rng: random.Random) -> Case:
    """A fresh credit token (never entered) with one random digit changed."""
    case = tokens.credit(rng.randint(1, 1000))
    while True:
        pos, delta = rng.randrange(20), rng.randint(1, 9)
        digits = case.digits[:pos] + str((int(case.digits[pos]) + delta) % 10)
        digits += case.digits[pos + 1 :]
        if int(digits) >> TOKEN_BITS == 0:
            return Case(digits, None, f"{case.label}, digit {pos + 1} mistyped")


def draw(kind: str, tokens: TokenFactory, rng: random.Random, accepted: list[Case]) -> Case:
    if kind == "valid":
        return tokens.credit(rng.randint(1, 1000))  # 0.1 to 100 kWh
    if kind == "mistyped":
        return mistyped(tokens, rng)
    if kind == "foreign":
        return getattr(tokens, rng.choice(FOREIGN))()
    return rng.choice(accepted)  # a replay: Used, or Old once pushed out of the memory


@pytest.mark.clause("CREDIT-ACCEPT", "AUTH-CRC", "TID-USED", "TID-OLD")
@pytest.mark.requires("virtual_carrier")
@pytest.mark.cost(bulk=TOKENS)
def test_soak_random_tokens_through_the_virtual_carrier(session):
    rng = random.Random(SEED)
    in_a_row = session.rig.profile.lockout.after_rejects - 1
    accepted: list[Case] = []
    kinds: Counter[str] = Counter()
    results: Counter[str] = Counter()
    refused_run = 0
    start = time.monotonic()
    for _ in range(TOKENS):
        kind = rng.choice(KINDS)
        if refused_run >= in_a_row or (kind == "replayed" and not accepted):
            kind = "valid"
        case = draw(kind, session.tokens, rng, accepted)
        # judged against the oracle here: a refused token that credits fails at once
        outcome = session.inject(case, via="virtual_carrier")
        kinds[kind] += 1
        results[outcome.result.label] += 1
        if outcome.result is TokenResult.ACCEPT:
            refused_run = 0
            if kind == "valid":
                accepted.append(case)
        else:
            refused_run += 1
    elapsed = time.monotonic() - start
    profile, speed = session.rig.profile, session.rig.speed
    limit = speed / (profile.processing_s + profile.result_hold_s)
    session.note(
        f"soak: {TOKENS} tokens (seed {SEED}) in {elapsed:.1f} s: "
        f"{TOKENS / elapsed:.1f} tokens/s end to end through the virtual carrier (the "
        f"meter's processing and result display allow {limit:.1f}/s); drawn "
        + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        + "; results " + ", ".join(f"{n} {r}" for r, n in sorted(results.items()))
    )  # fmt: skip
    session.check_state("after the soak")
