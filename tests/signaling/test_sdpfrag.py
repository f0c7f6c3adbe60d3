"""Trickle ICE fragments: what a PATCH may carry, what is refused and why, and the server's
answer to an ICE restart read back as a fragment."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diemcau.signaling.sdpfrag import Fragment, answer, check_candidate, parse

UFRAG = "EsAw"
PWD = "P2uYro0UCOQ4zxjKXaWCBui1"
HOST = "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw"
RELAY = "candidate:3 1 udp 41885439 198.51.100.9 50000 typ relay raddr 203.0.113.4 rport 61764"
TCP = "candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active"


def frag(*lines: str) -> str:
    return "\r\n".join(lines) + "\r\n"


# RFC 9725 section 4.3.1's example, as a browser sends it (session-level BUNDLE, one m-line).
WHIP_EXAMPLE = frag(
    "a=group:BUNDLE 0 1",
    "m=audio 9 UDP/TLS/RTP/AVP 0",
    "a=mid:0",
    f"a=ice-ufrag:{UFRAG}",
    f"a=ice-pwd:{PWD}",
    f"a={HOST}",
    f"a={TCP}",
    "a=end-of-candidates",
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (WHIP_EXAMPLE, Fragment(UFRAG, PWD, (("0", HOST), ("0", TCP)), end=True)),
        # RFC 8840 section 4.4's: credentials at session level, LF line ends.
        (
            f"a=ice-pwd:{PWD}\na=ice-ufrag:{UFRAG}\nm=audio 5000 RTP/AVP 0\na=mid:1\na={RELAY}\n",
            Fragment(UFRAG, PWD, (("1", RELAY),), end=False),
        ),
        # Candidates only, in two media sections; no credentials.
        (
            frag(
                "m=video 9 UDP/TLS/RTP/SAVPF 96",
                "a=mid:v",
                f"a={HOST}",
                "m=audio 9 X 0",
                "a=mid:a",
                f"a={RELAY}",
            ),
            Fragment(None, None, (("v", HOST), ("a", RELAY)), end=False),
        ),
        # Only the end of gathering, at session level; options kept once each.
        (
            frag("a=ice-options:trickle ice2", "a=ice-options:trickle", "a=end-of-candidates"),
            Fragment(None, None, (), end=True, ice_options=("trickle", "ice2")),
        ),
        # A restart's fragment: new credentials in the media section, c= ignored.
        (
            frag(
                "m=audio 9 UDP/TLS/RTP/SAVPF 111",
                "c=IN IP4 0.0.0.0",
                "a=mid:0",
                "a=ice-ufrag:n3wU",
                "a=ice-pwd:abcdefghijklmnopqrstuvwx",
            ),
            Fragment("n3wU", "abcdefghijklmnopqrstuvwx", (), end=False),
        ),
    ],
)
def test_fragments_are_read(body: str, expected: Fragment) -> None:
    assert parse(body) == expected
    assert parse(body).has_credentials == (expected.ufrag is not None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "empty"),
        ("\r\n\r\n", "empty"),
        ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n", "whole SDP description"),
        ("hello", "only a= and m= lines"),
        (frag("a=ice-options:trickle"), "no ICE credentials, candidates"),
        (frag(f"a={HOST}"), "belongs in a media section"),
        (frag("m=audio 9 X 0", f"a={HOST}"), "after a=mid"),
        (
            frag("m=audio 9 X 0", "a=mid:0", "a=candidate:1 1 udp 1 192.0.2.1 99999 typ host"),
            "port",
        ),
        (frag("m=audio 9 X 0", "a=mid:0", "a=candidate:1 1 udp 1 192.0.2.1 9 host"), "not an ICE"),
        (frag("m=audio 9 X 0", "a=mid:0", "a=candidate:1 1 udp"), "not an ICE candidate"),
        (
            frag("m=audio 9 X 0", "a=mid:0", "a=candidate:1 x udp 1 192.0.2.1 9 typ host"),
            "component",
        ),
        (
            frag("m=audio 9 X 0", "a=mid:0", "a=candidate:1 1 udp 1 192.0.2.1 9 typ host raddr"),
            "extensions",
        ),
        (frag("m=audio 9 X 0", "a=mid:0", f"a={HOST} rport 70000"), "rport"),
        (frag("m=audio 9 X 0", "a=mid:0", "a=candidate:1 1 udp 1 a<b 9 typ host"), "address"),
        (frag("m=audio"), "not an SDP media line"),
        (frag("m=audio 9 X 0", "a=end-of-candidates"), "has no a=mid"),
        (frag("m=audio 9 X 0", f"a={HOST}", "m=video 9 X 0", "a=mid:1"), "after a=mid"),
        (frag("m=audio 9 X 0", "m=video 9 X 0", "a=mid:1", "a=end-of-candidates"), "before it"),
        (frag("m=audio 9 X 0", "a=mid:0", "a=mid:1"), "once in each"),
        (frag("m=audio 9 X 0", "a=mid:0", "m=video 9 X 0", "a=mid:0", f"a={HOST}"), "twice"),
        (frag("a=mid:0", "a=end-of-candidates"), "once in each"),
        (frag("a=ice-ufrag:abc", f"a=ice-pwd:{PWD}"), "ufrag is 4 to 256"),
        (frag(f"a=ice-ufrag:{UFRAG}", "a=ice-pwd:short"), "password is 22 to 256"),
        (frag(f"a=ice-ufrag:{UFRAG}"), "without a password"),
        (
            frag(
                f"a=ice-ufrag:{UFRAG}",
                f"a=ice-pwd:{PWD}",
                "m=audio 9 X 0",
                "a=mid:0",
                "a=ice-ufrag:othr",
                f"a=ice-pwd:{PWD}",
            ),
            "more than one set",
        ),
        (frag("a=end-of-candidates:now"), "takes no value"),
        (frag("a=rtpmap:111 opus/48000/2", "a=end-of-candidates"), "not an attribute"),
        (frag("a=end-of-candidates", "", "a=end-of-candidates"), "line 2 is empty"),
        (frag("a=ice-options:trickle\tice2", "a=end-of-candidates"), "printable"),
        (frag("a=ice-options:tr\u00efckle", "a=end-of-candidates"), "printable"),
    ],
)
def test_what_is_not_a_fragment_is_refused_with_a_reason(body: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(body)


def test_a_mid_the_session_does_not_have_is_refused() -> None:
    assert parse(WHIP_EXAMPLE, mids={"0", "1"}).candidates[0] == ("0", HOST)
    with pytest.raises(ValueError, match="no media section with mid '0'"):
        parse(WHIP_EXAMPLE, mids={"1"})


def test_check_candidate_returns_the_value() -> None:
    assert check_candidate(RELAY) == RELAY
    with pytest.raises(ValueError, match="not an ICE candidate"):
        check_candidate(RELAY.removeprefix("candidate:"))


def test_the_restart_answer_reads_back_as_the_servers_fragment() -> None:
    body = answer("s3rv", "serverpasswordserverpwd", "0", [HOST, RELAY])
    assert body.endswith("a=end-of-candidates\r\n")
    assert parse(body, mids={"0", "1"}) == Fragment(
        "s3rv", "serverpasswordserverpwd", (("0", HOST), ("0", RELAY)), end=True
    )


LINE = st.one_of(
    st.sampled_from(
        [
            "m=audio 9 UDP/TLS/RTP/SAVPF 0",
            "a=mid:0",
            "a=mid:1",
            f"a=ice-ufrag:{UFRAG}",
            f"a=ice-pwd:{PWD}",
            f"a={HOST}",
            f"a={RELAY}",
            "a=end-of-candidates",
            "v=0",
            "",
            "a=ice-options:trickle",
            "c=IN IP4 0.0.0.0",
            "a=candidate:",
            "a=candidate:1 1 udp",
        ]
    ),
    st.text(max_size=40),
    st.builds(lambda s: "a=candidate:" + s, st.text(max_size=60)),
    st.builds(lambda s: "m=" + s, st.text(max_size=30)),
)


@given(st.lists(LINE, max_size=12), st.sampled_from(["\r\n", "\n"]))
def test_parse_never_raises_anything_but_value_error(lines: list[str], end: str) -> None:
    try:
        fragment = parse(end.join(lines), mids={"0"})
    except ValueError as exc:
        assert str(exc)
    else:
        assert fragment.candidates or fragment.end or fragment.ufrag
        assert all(mid == "0" for mid, _ in fragment.candidates)
