"""A WHIP publisher and a WHEP player on GStreamer's webrtcbin, for the interop tests.

Run with Debian's /usr/bin/python3 (python3-gi, GStreamer 1.22), not the test venv:

    gst_client.py publish WHIP_URL TOKEN [--setup passive]   # VP8 and Opus test sources
    gst_client.py play WHEP_URL TOKEN [--frames 30]           # decodes VP8 and Opus

Both offer complete (ICE gathered, no trickle), bundled, with GStreamer's own DTLS: its RSA
certificate, and `a=setup:actpass` unless --setup rewrites it. Each prints one JSON line per
event on stdout: {"event": "answer", "status", "setup", "location"}, {"event": "connected"},
{"event": "decoding"} (the player, once it decoded --frames video frames and some sound), and
last {"event": "deleted", "status", "video_frames", "audio_buffers"}. Each runs until its stdin
closes, then DELETEs its resource and exits; it gives up after --timeout seconds (exit status 1:
its stdin still open, an offer refused, or a connection that failed).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

VP8 = "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000"
OPUS = "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000"

PUBLISHER = f"""
webrtcbin name=webrtc bundle-policy=max-bundle
videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1
  ! videoconvert ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay ! {VP8} ! webrtc.
audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc
  ! rtpopuspay ! {OPUS} ! webrtc.
"""


def say(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def http(method: str, url: str, token: str, body: str | None = None) -> tuple[int, str, Any]:
    request = urllib.request.Request(url, method=method, data=body.encode() if body else None)
    request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/sdp")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers


class Client:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.loop = GLib.MainLoop()
        self.location: str | None = None
        self.video_frames = 0
        self.audio_buffers = 0
        self.failed = False
        self.decoding = False
        self.offering = False
        if args.mode == "publish":
            self.pipeline = Gst.parse_launch(PUBLISHER)
            self.webrtc = self.pipeline.get_by_name("webrtc")
        else:
            self.pipeline = Gst.Pipeline.new("player")
            self.webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
            self.webrtc.set_property("bundle-policy", "max-bundle")
            self.pipeline.add(self.webrtc)
            recvonly = GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY
            for caps in (VP8, OPUS):
                self.webrtc.emit("add-transceiver", recvonly, Gst.Caps.from_string(caps))
            self.webrtc.connect("pad-added", self.on_pad_added)
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("notify::ice-gathering-state", self.on_gathering)
        self.webrtc.connect("notify::connection-state", self.on_connection_state)

    def run(self) -> int:
        threading.Thread(target=self.wait_for_stdin, daemon=True).start()
        GLib.timeout_add_seconds(self.args.timeout, self.give_up)
        self.pipeline.set_state(Gst.State.PLAYING)
        self.loop.run()
        self.pipeline.set_state(Gst.State.NULL)
        return 1 if self.failed else 0

    # -- offer and answer

    def on_negotiation_needed(self, webrtc: Gst.Element) -> None:
        if self.offering:
            return  # once a pad: the first offer has them all
        self.offering = True
        if self.args.mode == "publish":
            for transceiver in self.transceivers():
                transceiver.set_property(
                    "direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY
                )
        webrtc.emit("create-offer", None, Gst.Promise.new_with_change_func(self.on_offer))

    def transceivers(self) -> list[Any]:
        found = []
        while (transceiver := self.webrtc.emit("get-transceiver", len(found))) is not None:
            found.append(transceiver)
        return found

    def on_offer(self, promise: Gst.Promise) -> None:
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply.has_field("offer") else None
        if offer is None:
            say("failed", reason=reply.to_string())
            GLib.idle_add(self.give_up)
            return
        self.webrtc.emit("set-local-description", offer, None)

    def on_gathering(self, webrtc: Gst.Element, _: object) -> None:
        if webrtc.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            GLib.idle_add(self.post_offer)

    def post_offer(self) -> bool:
        if self.location is not None:
            return False
        sdp = self.webrtc.get_property("local-description").sdp.as_text()
        if self.args.setup:
            sdp = sdp.replace("a=setup:actpass", f"a=setup:{self.args.setup}")
        status, text, headers = http("POST", self.args.url, self.args.token, sdp)
        setup = re.search(r"^a=setup:(\w+)", text, re.M) if status == 201 else None
        location = headers.get("Location") if status == 201 else None
        say("answer", status=status, setup=setup and setup[1], location=location, body=text[:300])
        if location is None:
            self.failed = True
            self.loop.quit()
            return False
        self.location = urllib.parse.urljoin(self.args.url, location)
        _, message = GstSdp.SDPMessage.new_from_text(text)
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, message)
        self.webrtc.emit("set-remote-description", answer, None)
        return False

    def on_connection_state(self, webrtc: Gst.Element, _: object) -> None:
        state = webrtc.get_property("connection-state")
        if state == GstWebRTC.WebRTCPeerConnectionState.CONNECTED:
            say("connected")
        elif state == GstWebRTC.WebRTCPeerConnectionState.FAILED:
            say("failed")
            GLib.idle_add(self.give_up)

    # -- the player: decode what arrives, and count it

    def on_pad_added(self, webrtc: Gst.Element, pad: Gst.Pad) -> None:
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        media = pad.get_current_caps().get_structure(0).get_string("media")
        chain = (
            "rtpvp8depay ! vp8dec ! fakesink name=sink signal-handoffs=true sync=false"
            if media == "video"
            else "rtpopusdepay ! opusdec ! fakesink name=sink signal-handoffs=true sync=false"
        )
        bin = Gst.parse_bin_from_description(f"queue ! {chain}", True)
        bin.get_by_name("sink").connect("handoff", self.on_decoded, media)
        self.pipeline.add(bin)
        bin.sync_state_with_parent()
        pad.link(bin.get_static_pad("sink"))

    def on_decoded(self, sink: Gst.Element, buffer: Gst.Buffer, pad: Gst.Pad, media: str) -> None:
        if media == "video":
            self.video_frames += 1
        else:
            self.audio_buffers += 1
        if not self.decoding and self.video_frames >= self.args.frames and self.audio_buffers:
            self.decoding = True
            say("decoding")

    # -- the end

    def wait_for_stdin(self) -> None:
        sys.stdin.read()
        GLib.idle_add(self.stop)

    def give_up(self) -> bool:
        self.failed = True
        self.stop()
        return False

    def stop(self) -> bool:
        status = None
        if self.location is not None:
            status, _, _ = http("DELETE", self.location, self.args.token)
            self.location = None
        say(
            "deleted",
            status=status,
            video_frames=self.video_frames,
            audio_buffers=self.audio_buffers,
        )
        self.loop.quit()
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["publish", "play"])
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--setup", choices=["active", "passive"], help="rewrite a=setup:actpass")
    parser.add_argument("--frames", type=int, default=30, help="decoded video frames to wait for")
    parser.add_argument("--timeout", type=int, default=25)
    args = parser.parse_args()
    Gst.init(None)
    return Client(args).run()


if __name__ == "__main__":
    sys.exit(main())
