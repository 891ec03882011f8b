"""Synthetic run journals shaped like the ones hil.pytest_plugin writes (see docs/run-record.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hil.conformance.catalogue import load_catalogue

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
PAN = "600727000000000009"
PAN_B = "600727000000000017"
# Requirements that apply to the integrated simulated meter of these runs (not split-only).
APPLICABLE = sum(r.applies_to == "any" for r in load_catalogue().requirements)
# The badge of passing_run(): it covers 4 of them.
SUBSET_LABEL = f"PASS (subset: 4 of {APPLICABLE} requirements)"


def iso(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def run_start(
    at: float = 0.0, *, host: str = "bench-pc", git_sha: str = "a" * 40, defect: str | None = None
) -> dict[str, Any]:
    return {
        "event": "run_start",
        "time": iso(at),
        "schema": "hil-run/1",
        "harness": {
            "version": "0.1.0",
            "git_sha": git_sha,
            "python": "3.11.7",
            "host": host,
            "operator": "ada",
        },
        "rig_file": "/lab/rigs/sim.yaml",
        "rig_sha256": "b" * 64,
        "argv": ["suites", "--hil-journal", "reports/x/journal.jsonl"],
        "defect": defect,
    }


def rig(
    at: float = 0.5,
    *,
    name: str = "sim",
    pan: str = PAN,
    firmware: str = "sim-1.0",
    defect: str | None = None,
) -> dict[str, Any]:
    identity = {
        "sgc": "123457",
        "ti": "01",
        "krn": 1,
        "kt": 2,
        "ken": 255,
        "base_date": 2014,
        "ea": "11",
        "dkga": "04",
    }
    return {
        "event": "rig",
        "time": iso(at),
        "name": name,
        "serial": pan,
        "simulated": True,
        "defect": defect,
        "meter": {**identity, "pan": pan, "profile": "fast"},
        "probe_info": {
            "protocol": "1",
            "firmware": firmware,
            "pan": pan,
            **{k: str(v) for k, v in identity.items()},
        },
        "instruments": {
            "ac_source": "HIL-SIM,AC-SOURCE,SIM0001,1.0",
            "dmm": "HIL-SIM,DMM,SIM0002,1.0",
            "load": "no answer: reply timeout",
        },
        "features": ["keypad", "power_control"],
    }


def step(
    at: float,
    *,
    token: str = "70463515115801706925",
    expected: str = "Accept",
    observed: str | None = None,
    delta: float = 5.0,
    observed_delta: float | None = None,
    credit: float = 5.0,
    relay: str = "closed",
    observed_relay: str | None = None,
    elapsed: float = 0.65,
    label: str = "credit 5 (subclass 0)",
) -> dict[str, Any]:
    observed = observed or expected
    observed_delta = delta if observed_delta is None else observed_delta
    observed_relay = observed_relay or relay
    # What the test judged (the session's checks): the record shows it, never re-judges.
    mismatches = [name for name, same in (("result", observed == expected),
                  ("credit", abs(observed_delta - delta) < 0.0015),
                  ("relay", observed_relay == relay)) if not same]  # fmt: skip
    ok = not mismatches
    return {
        "mismatches": mismatches,
        "label": label,
        "token": token,
        "token_class": 0,
        "subclass": 0,
        "tid": 6782299,
        "expected_result": expected,
        "observed_result": observed,
        "expected_credit_delta_kwh": delta,
        "observed_credit_delta_kwh": observed_delta,
        "expected_relay": relay,
        "observed_relay": observed_relay,
        "elapsed_s": elapsed,
        "ok": ok,
        "credit_kwh": credit,
        "at": iso(at),
    }


def finished(
    name: str,
    verdict: str,
    start: float,
    *,
    rig_label: str = f"sim:{PAN}",
    clauses: tuple[str, ...] = ("TID-USED",),
    steps: list | None = None,
    duration: float = 1.0,
    message: str = "",
    module: str = "suites/test_tid.py",
    notes: list | None = None,
    probe_log: list | None = None,
) -> dict[str, Any]:
    param = (
        f"[{rig_label}]"
        if "[" not in name
        else name[name.index("[") :].replace("[", f"[{rig_label}-", 1)
    )
    func = name.split("[")[0]
    return {
        "event": "test",
        "time": iso(start + duration),
        "nodeid": f"{module}::{func}{param}",
        "verdict": verdict,
        "phase": "call",
        "started": iso(start),
        "duration_s": duration,
        "clauses": list(clauses),
        "evidence": {"steps": steps or [], "notes": notes or []},
        "message": message,
        "probe_log": probe_log if probe_log is not None else [f"{iso(start)} > 1 GET CREDIT*5FC7"],
    }


def run_end(at: float, status: int = 0) -> dict[str, Any]:
    return {"event": "run_end", "time": iso(at), "exit_status": status}


def passing_run(
    *,
    pan: str = PAN,
    name: str = "sim",
    t: float = 0.0,
    end: bool = True,
    firmware: str = "sim-1.0",
) -> list[dict[str, Any]]:
    label = f"{name}:{pan}"
    events = [
        run_start(t),
        rig(t + 0.5, name=name, pan=pan, firmware=firmware),
        finished(
            "test_replayed_token_is_used",
            "pass",
            t + 1,
            rig_label=label,
            steps=[
                step(t + 1.7, credit=5.0),
                step(t + 2.4, expected="Used", delta=0.0, credit=5.0),
            ],
        ),
        finished(
            "test_token_older_than_the_memory_is_old",
            "pass",
            t + 3,
            rig_label=label,
            clauses=("TID-OLD",),
            steps=[step(t + 3.7, elapsed=0.7)],
        ),
        finished(
            "test_credit_for_each_register[water]",
            "pass",
            t + 5,
            rig_label=label,
            clauses=("CREDIT-ACCEPT", "CREDIT-FUNCTION"),
            module="suites/test_credit.py",
            steps=[step(t + 5.6, elapsed=0.6)],
        ),
        finished(
            "test_partial_key_change_lost_on_power_cycle",
            "skip",
            t + 7,
            rig_label=label,
            clauses=("KCT-POWER",),
            duration=0.0,
            module="suites/test_keys.py",
            message="rig sim lacks feature power_control",
            probe_log=[],
        ),
    ]
    if end:
        events.append(run_end(t + 8, 0))
    return events


def failing_run() -> list[dict[str, Any]]:
    """TID-USED fails (a replay accepted); AUTH-CRC hits a bench error."""
    events = passing_run()[:-1]
    events[2] = finished(
        "test_replayed_token_is_used",
        "fail",
        1,
        steps=[
            step(1.7),
            step(
                2.4, expected="Used", observed="Accept", delta=0.0, observed_delta=5.0, credit=10.0
            ),
        ],
        message="ConformanceFailure: credit 5 (subclass 0): the meter answered Accept (code 1)",
        duration=1.4,
    )
    events.append(
        finished(
            "test_token_that_does_not_authenticate_is_refused[wrong-sgc]",
            "error",
            8,
            clauses=("AUTH-CRC",),
            module="suites/test_authentication.py",
            message="hil.errors.ReplyTimeout: probe did not answer GET CREDIT within 2.0 s",
        )
    )
    events.append(run_end(10, 1))
    return events


def write_journal(path: Path, events: list[dict[str, Any]], *, tail: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + tail, encoding="utf-8")
    return path
