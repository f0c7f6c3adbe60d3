"""Bridge.stats(): the counters that never go down, a publisher's loss over a window, and a
hall that is slow for real: a real aiortc publisher and viewer, the bridge in this process,
the viewer's link throttled by tc (htb) inside the test's namespace so that the media port's
send buffer fills and the kernel refuses more (EAGAIN)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from aiortc import RTCPeerConnection

from diemcau.media import port as media_port
from diemcau.media.bridge import Bridge
from diemcau.media.egress import Subscriber, SubscriberTrack
from diemcau.media.ingest import Publisher, UpTrack
from diemcau.media.stats import LOSS_WINDOW, SLOW_WINDOW, LossWindow
from tests import linkfaults
from tests.linkfaults import candidate_ports
from tests.peers import encode_vp8, publish_to, view, wait_for


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        # (seconds, expected so far, received so far) -> the loss read each time
        ([(0.0, 0, 0)], [None]),  # nothing yet
        ([(0.0, 100, 90)], [0.1]),  # the first reading: since the start
        ([(0.0, 100, 90), (1.0, 200, 100)], [0.1, 0.1]),  # too soon: the last interval's
        ([(0.0, 100, 90), (LOSS_WINDOW, 200, 190)], [0.1, 0.0]),
        ([(0.0, 100, 100), (LOSS_WINDOW, 200, 150)], [0.0, 0.5]),
        ([(0.0, 100, 100), (LOSS_WINDOW, 200, 210)], [0.0, 0.0]),  # duplicates: no loss
        ([(0.0, 100, 90), (LOSS_WINDOW, 100, 90)], [0.1, 0.1]),  # nothing came: unchanged
    ],
)
def test_a_publishers_loss_is_read_over_a_window(
    readings: list[tuple[float, int, int]], expected: list[float | None]
) -> None:
    window = LossWindow()
    assert [window.read(e, r, now) for now, e, r in readings] == expected


async def test_what_a_hall_counted_stays_counted_when_it_leaves() -> None:
    bridge = Bridge()
    pc = RTCPeerConnection()
    broadcast = bridge.broadcast("s1")
    sub = Subscriber(broadcast, "r1", "nga-thanh", pc)
    broadcast.subscribers["r1"] = sub
    try:
        track = SubscriberTrack(sub, pc.addTransceiver("video", direction="sendonly"))
        sub.tracks.append(track)
        track.nacks_received, track.plis_received = 3, 2
        live = bridge.stats()
        assert set(live.sessions["s1"].halls) == {"nga-thanh"}
        assert (live.totals.nacks_received, live.totals.plis_received) == (3, 2)
        assert await bridge.delete("s1", "r1")
        left = bridge.stats()
        assert left.sessions["s1"].halls == {}  # out of the gauges
        assert (left.totals.nacks_received, left.totals.plis_received) == (3, 2)
        await bridge.close_session("s1")
        assert bridge.stats().sessions == {}
        assert bridge.stats().totals == left.totals
    finally:
        await bridge.close()


async def test_a_replaced_publishers_requests_stay_counted_at_once() -> None:
    bridge = Bridge()
    first, second = Publisher("p1"), Publisher("p2")
    for publisher, requests in ((first, 4), (second, 1)):
        up = publisher.tracks["video"] = UpTrack(bridge.broadcast("s1"), "video")
        up.plis_sent = up.nacks_sent = requests
    closed: list[str] = []
    first.on_close = lambda: closed.append("p1")
    try:
        bridge.attach("s1", first)
        assert bridge.stats().totals.plis_sent == 4
        bridge.attach("s1", second)  # the first is dropped in a task of its own, later
        assert (bridge.stats().totals.plis_sent, bridge.stats().totals.nacks_sent) == (5, 5)
        assert await wait_for(lambda: closed, 5)  # closed now: counted once, not twice
        assert bridge.stats().totals.plis_sent == 5
        assert set(bridge.stats().sessions["s1"].publishers) == {"host"}
    finally:
        await bridge.close()


@pytest.fixture
def throttle() -> Iterator[object]:
    with linkfaults.throttle("32kbit") as slow:
        yield slow


@pytest.mark.netns
async def test_a_hall_whose_link_backs_up_drops_and_is_slow(
    throttle: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A send buffer of 64 KiB rather than 16 MiB: full within a second or two at 32 kbit/s.
    monkeypatch.setattr(media_port, "BUFFER_BYTES", 32 * 1024)
    bridge = Bridge()
    publisher = await publish_to(bridge, "s1", encode_vp8(frames=90, width=640, height=480))
    viewer = await view(bridge, "s1", "nga-thanh")
    try:
        assert await wait_for(lambda: len(viewer.widths) >= 10, 20)
        calm = bridge.stats()
        assert calm.totals.drops_backed_up == 0
        assert not calm.sessions["s1"].halls["nga-thanh"].backed_up
        throttle(candidate_ports(viewer.pc.localDescription.sdp))  # type: ignore[operator]
        assert await wait_for(lambda: bridge.stats().totals.drops_backed_up > 0, 20)
        stats = bridge.stats()
        hall = stats.sessions["s1"].halls["nga-thanh"]
        assert hall.slow and hall.drops >= stats.totals.drops_backed_up > 0
        # Slow for SLOW_WINDOW after the last packet dropped for it, and not for ever.
        assert hall.backed_up
        later = bridge.stats(now=time.monotonic() + SLOW_WINDOW + 1)
        assert not later.sessions["s1"].halls["nga-thanh"].backed_up
    finally:
        await viewer.close()
        await publisher.close()
        await bridge.close()
