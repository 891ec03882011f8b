"""Result codes (bench-notes 2.1), events, defect table, model copying and determinism."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from hil.meter import DEFECTS, Defect, TokenResult, parse_defects
from hil.meter.events import Event, EventName
from hil.paths import REPO_ROOT
from tests.meter.helpers import KEY, TID0, R, credit, info, kct, meter, results


def test_result_codes_are_the_canonical_set() -> None:
    assert [(int(r), r.label) for r in TokenResult] == [
        (0, "Reserved"),
        (1, "Accept"),
        (2, "1st KCT"),
        (3, "2nd KCT"),
        (4, "Overflow"),
        (5, "Key type"),
        (6, "Format"),
        (7, "Range"),
        (8, "Function"),
        (9, "Old"),
        (10, "Used"),
        (11, "Key expired"),
        (12, "DDTK"),
        (13, "CRC"),
        (14, "Mfr code"),
        (15, "Lockout"),
        (16, "Not ready"),
    ]
    assert {r for r in TokenResult if r.accepted} == {R.ACCEPT, R.KCT1, R.KCT2}
    assert TokenResult.from_label("used") is R.USED is TokenResult.from_label("USED")
    with pytest.raises(ValueError, match="unknown token result"):
        TokenResult.from_label("fine")


def test_event_is_frozen_and_named() -> None:
    event = Event(EventName.KEY, 1.0, {"key": "1"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.at = 2.0  # type: ignore[misc]
    assert event.name == "KEY" and event.to_dict() == {"name": "KEY", "at": 1.0, "key": "1"}
    assert {e.value for e in EventName} == {
        "KEY",
        "ENTRY_TIMEOUT",
        "TOKEN_RESULT",
        "CREDIT_CHANGED",
        "RELAY_CHANGED",
        "LOCKOUT_START",
        "LOCKOUT_END",
        "POWER_FAIL",
        "POWER_UP",
        "TAMPER",
        "KCT_PENDING",
        "KCT_TIMEOUT",
        "TEST_STARTED",
        "TEST_ENDED",
        "EMERGENCY_CREDIT",
    }


def test_every_defect_is_described_and_documented() -> None:
    assert set(DEFECTS) == set(Defect)
    doc = (REPO_ROOT / "docs" / "meter-model.md").read_text()
    for defect, (description, clause) in DEFECTS.items():
        assert description and clause and "\n" not in description + clause
        assert f"`{defect.value}`" in doc, defect
    assert parse_defects(["NO_LOCKOUT", "accepts_replays"]) == {
        Defect.NO_LOCKOUT,
        Defect.ACCEPTS_REPLAYS,
    }
    with pytest.raises(ValueError, match="unknown defect"):
        parse_defects(["flaky"])


def test_info_shows_identity_never_keys() -> None:
    m = meter()
    shown = m.info()
    assert shown["pan"] == "600727000000000009" and shown["tid_memory_depth"] == 50
    assert {"firmware", "sgc", "ti", "krn", "kt", "ken", "base_date", "ea", "dkga"} <= set(shown)
    assert KEY.value.hex() not in repr(shown).lower()


def test_clone_is_independent() -> None:
    m = meter()
    m.enter_token(credit(TID0), 1.0)
    twin = m.clone()
    other = copy.deepcopy(m)
    twin.enter_token(credit(TID0 + 1), 2.0)
    assert m.tid_memory == [TID0] == other.tid_memory and twin.tid_memory == [TID0, TID0 + 1]
    assert m.credit_wh == 10_000 and twin.credit_wh == 20_000


def test_clone_after_key_change_keeps_the_new_key() -> None:
    new = info(krn=2)
    m = meter()
    results(m, kct(new))
    twin = m.clone()
    assert twin.key_info == new
    assert twin.enter_token(credit(TID0), 2.0).result is R.CRC  # old key no longer valid


def test_same_history_gives_same_outcomes() -> None:
    history = [credit(TID0), credit(TID0), "123", credit(TID0 - 1), *kct(info(krn=2))]

    def run() -> list[tuple]:
        m = meter()
        m.set_load(2000.0, 0.0)
        outs = [m.enter_token(d, 0.01 * (i + 1)) for i, d in enumerate(history)]
        return [
            (o.result, o.tid, o.credit_delta_wh, [(e.name, e.at, e.data) for e in o.events])
            for o in outs
        ] + [m.advance(100.0)]

    assert run() == run()


def test_factory_reset_restores_the_built_state() -> None:
    m = meter(credit_units=5)
    results(m, [credit(TID0), *kct(info(krn=2))])
    m.tamper(2.0)
    m.factory_reset(3.0)
    assert (m.credit_wh, m.tid_memory, m.key_info, m.tamper_active) == (500, [], info(), False)
    assert m.relay_closed and m.last_result is None
