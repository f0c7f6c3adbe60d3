"""The fast path as it runs: a real aiortc publisher and viewer, the bridge in this process.

The unit tests check BurstReader and RtpSink piece by piece (tests/media/test_seams.py); this
checks that a real media connection actually switches to them: the publisher's socket read a
burst at a time, and each viewer's frames sent in segmented runs, byte for byte.
"""

from __future__ import annotations

import pytest

from diemcau.media import seams
from diemcau.media.bridge import Bridge
from diemcau.media.ingest import PeerUpTrack
from tests.peers import encode_vp8, publish_to, view, wait_for

pytestmark = pytest.mark.netns


async def test_a_real_publisher_is_read_in_bursts_and_viewers_get_segmented_runs() -> None:
    bridge = Bridge()
    # 640x480 at 500 kbps: a keyframe spans several packets, and so do some inter frames.
    frames = encode_vp8(frames=90, width=640, height=480, gop=30)
    publisher = await publish_to(bridge, "s1", frames)
    viewer = await view(bridge, "s1", "nga-thanh")
    received = viewer.widths
    try:
        assert await wait_for(lambda: len(received) >= 40, 20)
        assert set(received) == {640}

        broadcast = bridge.broadcast("s1")
        assert broadcast.publisher is not None
        up = broadcast.publisher.tracks["video"]
        assert isinstance(up, PeerUpTrack) and up.reader is not None
        reader = up.reader
        # The reader took the socket over, and a frame's packets came in one read.
        assert reader.installed
        assert reader.packets > reader.bursts > 0

        (sub,) = broadcast.subscribers.values()
        (track,) = sub.tracks
        assert isinstance(track.sink, seams.RtpSink) and track.down is not None
        # Fewer system calls than packets: the frames left in segmented runs.
        assert 0 < track.sink.sends < track.down.stats.packets_sent
        assert track.sink.dropped == 0
    finally:
        await viewer.close()
        await publisher.close()
        await bridge.close()
