"""The link model: latency, order, loss and garble under a seed, cut, short and restore."""

from __future__ import annotations

import pytest

from hil.meter.link import Frame, Link, LinkKind, LinkSpec, LinkState


def frame(seq: int, dst: str = "01234567897") -> Frame:
    return Frame("CIU", dst, seq, "STATUS")


def test_a_frame_arrives_after_the_latency() -> None:
    link = Link(LinkSpec(latency_s=0.2))
    link.send(frame(1), 1.0)
    assert link.next_delivery_at == pytest.approx(1.2)
    assert link.advance(1.1) == []
    [d] = link.advance(1.3)
    assert (d.frame.seq, d.at, d.garbled) == (1, pytest.approx(1.2), False)


def test_frames_in_one_direction_never_overtake() -> None:
    link = Link(LinkSpec(latency_s=0.1, jitter_s=0.5, reply_timeout_s=2.0), seed=3)
    got = []
    for i in range(20):
        got += [d.frame.seq for d in link.send(frame(i), i * 0.01)]
    got += [d.frame.seq for d in link.advance(10.0)]
    assert got == list(range(20))


def test_the_same_seed_gives_the_same_fate() -> None:
    def fates(seed: int) -> list[tuple[int, bool]]:
        link = Link(LinkSpec(loss=0.3, garble=0.3, jitter_s=0.01), seed=seed)
        got = []
        for i in range(200):
            got += link.send(frame(i), i * 0.001)
        got += link.advance(100.0)
        return [(d.frame.seq, d.garbled) for d in got]

    assert fates(7) == fates(7)
    assert fates(7) != fates(8)
    got = fates(7)
    assert 100 < len(got) < 180  # about 70 % get through
    assert any(g for _, g in got) and not all(g for _, g in got)


def test_loss_and_garble_are_counted() -> None:
    link = Link(LinkSpec(loss=1.0))
    link.send(frame(1), 0.0)
    assert link.advance(5.0) == []
    assert (link.stats.sent, link.stats.lost) == (1, 1)
    link = Link(LinkSpec(garble=1.0))
    link.send(frame(1), 0.0)
    [d] = link.advance(5.0)
    assert d.garbled and link.stats.garbled == 1


def test_a_cut_drops_frames_in_flight_and_refuses_new_ones_until_restored() -> None:
    link = Link(LinkSpec(latency_s=0.5, reply_timeout_s=2.0))
    link.send(frame(1), 0.0)
    assert link.cut(0.2) == []
    assert link.state is LinkState.CUT and not link.shorted
    link.send(frame(2), 0.3)
    assert link.advance(2.0) == []
    assert link.stats.dropped == 2
    link.restore(2.0)
    link.send(frame(3), 2.1)
    assert [d.frame.seq for d in link.advance(3.0)] == [3]


def test_a_frame_due_before_the_cut_is_delivered() -> None:
    link = Link(LinkSpec(latency_s=0.1))
    link.send(frame(1), 0.0)
    [d] = link.cut(0.5)
    assert d.frame.seq == 1


def test_a_short_is_sensed_and_a_cut_is_not() -> None:
    link = Link()
    link.short(1.0)
    assert link.shorted and link.state is LinkState.SHORT
    link.restore(2.0)
    assert not link.shorted and link.state is LinkState.OK


def test_a_cut_does_not_shift_the_fate_of_later_frames() -> None:
    def later(cut: bool) -> list[int]:
        link = Link(LinkSpec(loss=0.5), seed=11)
        if cut:
            link.cut(0.0)
        link.send(frame(0), 0.0)
        link.restore(0.1)
        got = []
        for i in range(1, 30):
            got += link.send(frame(i), 0.1 + i * 0.01)
        got += link.advance(9.0)
        return [d.frame.seq for d in got if d.frame.seq]

    assert later(cut=True) == later(cut=False)


@pytest.mark.parametrize("kind", [LinkKind.PLC, LinkKind.RF])
def test_only_wired_links_can_be_cut_or_shorted_by_a_relay(kind: LinkKind) -> None:
    link = Link(LinkSpec(kind=kind))
    with pytest.raises(ValueError, match="short"):
        link.short(0.0)
    with pytest.raises(ValueError, match="open"):
        link.cut(0.0)


def test_time_may_not_go_back() -> None:
    link = Link(at=5.0)
    with pytest.raises(ValueError, match="back"):
        link.advance(4.0)


@pytest.mark.parametrize(
    "changes",
    [{"loss": 1.5}, {"garble": -0.1}, {"retries": -1}, {"latency_s": -1}, {"reply_timeout_s": 0.1}],
)
def test_a_bad_spec_is_refused(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="link"):
        LinkSpec(**changes)
