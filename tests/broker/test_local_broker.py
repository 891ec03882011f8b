"""LocalBroker: lease files, expiry and takeover, heartbeat, contention, pool-file errors."""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from hil.broker import Heartbeat, LeaseLost, LocalBroker, NoRigAvailable
from hil.errors import ConfigError

SIM = Path(__file__).resolve().parents[2] / "rigs" / "sim.yaml"


class FakeClock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _rig_file(directory: Path, name: str) -> None:
    text = SIM.read_text(encoding="utf-8").replace("\nname: sim\n", f"\nname: {name}\n")
    assert f"name: {name}" in text
    (directory / f"{name}.yaml").write_text(text, encoding="utf-8")


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    _rig_file(tmp_path, "sim-a")
    _rig_file(tmp_path, "sim-b")
    path = tmp_path / "pool.yaml"
    path.write_text(
        "rigs:\n"
        "  - {file: sim-a.yaml, tags: {model: sim, firmware: 1.0}}\n"
        "  - {file: sim-b.yaml, tags: {model: sim, firmware: '2.0'}}\n",
        encoding="utf-8",
    )
    return path


def test_two_leases_get_two_rigs_and_a_third_waits_then_fails(pool: Path) -> None:
    broker = LocalBroker(pool)
    first = broker.lease(owner="job-1")
    second = broker.lease(owner="job-2")
    assert {first.rig, second.rig} == {"sim-a", "sim-b"}
    assert first.token != second.token
    assert first.owner["job"] == "job-1" and "host" in first.owner and "pid" in first.owner
    assert Path(first.rig_file).name == f"{first.rig}.yaml"
    assert (pool.parent / ".leases" / f"{first.rig}.lease").is_file()

    started = time.monotonic()
    with pytest.raises(NoRigAvailable) as exc:
        broker.lease({"model": "sim"}, owner="job-3", wait_s=0.3)
    waited = time.monotonic() - started
    assert 0.25 <= waited < 2
    msg = str(exc.value)
    assert "\n" not in msg
    assert "model=sim" in msg and "sim-a" in msg and "sim-b" in msg and "job-1" in msg


def test_release_frees_the_rig_and_is_idempotent(pool: Path) -> None:
    broker = LocalBroker(pool)
    a = broker.lease({"rig": "sim-a"})
    with pytest.raises(NoRigAvailable):
        broker.lease({"rig": "sim-a"})
    broker.release(a)
    broker.release(a)
    again = broker.lease({"rig": "sim-a"})
    assert again.rig == "sim-a" and again.token != a.token
    broker.release(a)  # an old lease must not free someone else's
    assert [lease.token for lease in broker.leases()] == [again.token]


def test_waiting_lease_gets_a_rig_released_meanwhile(pool: Path) -> None:
    broker = LocalBroker(pool)
    a = broker.lease({"rig": "sim-a"})
    timer = threading.Timer(0.2, broker.release, args=(a,))
    timer.start()
    try:
        b = broker.lease({"rig": "sim-a"}, wait_s=3)
    finally:
        timer.join()
    assert b.rig == "sim-a"


def test_tag_filtering(pool: Path) -> None:
    broker = LocalBroker(pool)
    assert broker.lease({"firmware": "2.0"}).rig == "sim-b"
    assert broker.lease({"firmware": 1.0}).rig == "sim-a"  # numbers compare as strings
    with pytest.raises(NoRigAvailable, match="no rig matches model=emon"):
        broker.lease({"model": "emon"})


def test_expired_lease_is_recovered_by_the_next_lease(pool: Path) -> None:
    clock = FakeClock()
    old = LocalBroker(pool, clock=clock).lease({"rig": "sim-a"}, owner="dead-job", ttl_s=60)
    broker = LocalBroker(pool, clock=clock)
    with pytest.raises(NoRigAvailable):
        broker.lease({"rig": "sim-a"})
    clock.now += 61
    assert [(lease.token, lease.stale) for lease in broker.leases()] == [(old.token, True)]
    new = broker.lease({"rig": "sim-a"}, owner="next-job")
    assert new.token != old.token and new.owner["job"] == "next-job"
    assert [(lease.token, lease.stale) for lease in broker.leases()] == [(new.token, False)]
    assert not list((pool.parent / ".leases").glob("*stale*"))


def test_recover_stale(pool: Path) -> None:
    clock = FakeClock()
    broker = LocalBroker(pool, clock=clock)
    short = broker.lease({"rig": "sim-a"}, ttl_s=10)
    long = broker.lease({"rig": "sim-b"}, ttl_s=100)
    clock.now += 50
    assert [lease.token for lease in broker.recover_stale()] == [short.token]
    assert [lease.token for lease in broker.leases()] == [long.token]


def test_renew_extends_and_renew_after_takeover_raises_lease_lost(pool: Path) -> None:
    clock = FakeClock()
    mine = LocalBroker(pool, clock=clock)
    lease = mine.lease({"rig": "sim-a"}, ttl_s=60)
    clock.now += 50
    lease = mine.renew(lease)
    assert lease.expires_at == clock.now + 60
    clock.now += 30  # past the original expiry, within the renewed one
    with pytest.raises(NoRigAvailable):
        LocalBroker(pool, clock=clock).lease({"rig": "sim-a"})

    clock.now += 31
    thief = LocalBroker(pool, clock=clock).lease({"rig": "sim-a"}, owner="other-job")
    with pytest.raises(LeaseLost, match="other-job") as exc:
        mine.renew(lease)
    assert "\n" not in str(exc.value)
    mine.release(lease)  # must not free the new holder's rig
    assert [held.token for held in mine.leases()] == [thief.token]


def test_renew_of_an_expired_lease_nobody_took_succeeds(pool: Path) -> None:
    clock = FakeClock()
    broker = LocalBroker(pool, clock=clock)
    lease = broker.lease({"rig": "sim-a"}, ttl_s=5)
    clock.now += 10
    assert broker.renew(lease).expires_at == clock.now + 5


def test_heartbeat_keeps_the_lease_past_its_ttl(pool: Path) -> None:
    broker = LocalBroker(pool)
    lease = broker.lease({"rig": "sim-a"}, ttl_s=0.3)
    with Heartbeat(broker, lease, interval_s=0.1) as hb:
        time.sleep(0.8)
        with pytest.raises(NoRigAvailable):
            broker.lease({"rig": "sim-a"})
        assert not hb.lost.is_set()
        assert hb.lease.expires_at > lease.expires_at
    time.sleep(0.4)  # no more heartbeats: the lease goes stale and is taken over
    assert broker.lease({"rig": "sim-a"}).token != lease.token


def test_heartbeat_reports_a_lost_lease(pool: Path) -> None:
    clock = FakeClock()
    broker = LocalBroker(pool, clock=clock)
    lease = broker.lease({"rig": "sim-a"}, ttl_s=60)
    clock.now += 61
    LocalBroker(pool, clock=clock).lease({"rig": "sim-a"}, owner="other-job")
    with Heartbeat(broker, lease, interval_s=0.02) as hb:
        assert hb.lost.wait(2)
    assert isinstance(hb.error, LeaseLost)


def test_threads_never_share_a_rig(pool: Path) -> None:
    broker = LocalBroker(pool)
    start = threading.Barrier(8)
    got: list[str] = []
    refused: list[str] = []

    def contend() -> None:
        start.wait()
        try:
            got.append(broker.lease().rig)
        except NoRigAvailable:
            refused.append("x")

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(got) == ["sim-a", "sim-b"] and len(refused) == 6


def test_threads_taking_over_one_stale_lease_only_one_wins(pool: Path) -> None:
    clock = FakeClock()
    LocalBroker(pool, clock=clock).lease({"rig": "sim-a"}, ttl_s=1)
    clock.now += 5
    start = threading.Barrier(8)
    winners: list[str] = []

    def contend() -> None:
        broker = LocalBroker(pool, clock=clock)
        start.wait()
        with contextlib.suppress(NoRigAvailable):
            winners.append(broker.lease({"rig": "sim-a"}).token)

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(winners) == 1
    assert [lease.token for lease in LocalBroker(pool, clock=clock).leases()] == winners


def _contend_in_process(pool: str, start, results) -> None:
    broker = LocalBroker(pool)
    start.wait()
    try:
        results.put(broker.lease({"rig": "sim-a"}).token)
    except NoRigAvailable:
        results.put(None)


def test_processes_never_share_a_rig(pool: Path) -> None:
    ctx = multiprocessing.get_context("spawn")  # as on Windows and macOS
    start = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_contend_in_process, args=(str(pool), start, results)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    tokens = [results.get(timeout=20) for _ in procs]
    for p in procs:
        p.join(10)
    winners = [t for t in tokens if t is not None]
    assert len(winners) == 1
    assert [lease.token for lease in LocalBroker(pool).leases()] == winners


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("rigs:\n  - {file: sim-a.yaml, tagz: {model: sim}}\n", "rigs.0.tagz"),
        ("rigs:\n  - {tags: {model: sim}}\n", "rigs.0.file"),
        ("rigs: []\n", "rigs"),
        ("rigs:\n  - {file: missing.yaml}\n", "rigs.0.file"),
        ("rigs:\n  - {file: sim-a.yaml, tags: {rig: x}}\n", "rigs.0.tags.rig"),
        (
            "rigs:\n  - {file: sim-a.yaml}\n  - {file: ./sim-a.yaml}\n",
            "rigs.1: rig name 'sim-a' is already used",
        ),
        ("rigs: [\n", "not valid YAML"),
    ],
)
def test_broken_pool_file_is_a_one_line_config_error(pool: Path, text: str, field: str) -> None:
    pool.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        LocalBroker(pool)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(str(pool)) and field in msg
