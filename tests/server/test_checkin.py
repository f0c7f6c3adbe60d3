"""The check-in code: bound to session, hall and 30-s slot; good for its slot and the next; older
is expired (410), anything else unknown (404). Tables, then properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diemcau.server.checkin import (
    CODE_LENGTH,
    SLOT_SECONDS,
    CheckinKey,
    UnknownCode,
    session_of,
)
from diemcau.server.links import LinkKey

KEY = CheckinKey(LinkKey(bytes(range(32))).derived("checkin"))
SESSION = "abcdefgh23"
SITES = ["nga-thanh", "tan-loc", "ubnd"]
# The start of a slot.
T0 = datetime(2026, 3, 5, 1, 0, 0, tzinfo=UTC)


def test_a_code_is_short_and_names_its_session() -> None:
    code = KEY.draw(SESSION, "tan-loc", T0)
    assert len(code.text) == CODE_LENGTH == 30
    assert code.text.startswith(SESSION) and code.text.isalnum() and code.text.islower()
    assert session_of(code.text) == SESSION
    assert code.refresh_at == T0 + timedelta(seconds=SLOT_SECONDS)
    assert code.expires_at == T0 + timedelta(seconds=2 * SLOT_SECONDS)


@pytest.mark.parametrize(
    ("drawn_after", "read_after", "state"),
    [
        (0, 0, "valid"),
        (0, 29.999, "valid"),  # its own slot
        (0, 30, "valid"),  # the next slot
        (29, 59.999, "valid"),
        (0, 60, "expired"),  # two slots on: a minute at most after it was drawn
        (29, 60, "expired"),  # drawn late in its slot: 31 s later it is gone
        (0, 120, "expired"),  # a two-minute-old code (the check)
        (0, 86400 * 365, "expired"),
        (30, 0, "valid"),  # the clock stepped back within a slot: this server drew it
    ],
)
def test_a_code_is_good_for_its_slot_and_the_next(
    drawn_after: float, read_after: float, state: str
) -> None:
    code = KEY.draw(SESSION, "tan-loc", T0 + timedelta(seconds=drawn_after))
    read = KEY.read(code.text, SITES, T0 + timedelta(seconds=read_after))
    assert (read.session_id, read.site_id, read.state) == (SESSION, "tan-loc", state)
    assert read.expires_at == code.expires_at


def test_a_code_from_further_ahead_is_not_ours() -> None:
    code = KEY.draw(SESSION, "ubnd", T0 + timedelta(seconds=2 * SLOT_SECONDS))
    with pytest.raises(UnknownCode):
        KEY.read(code.text, SITES, T0)


def _flip(text: str, index: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    swapped = alphabet[(alphabet.index(text[index]) + 1) % 32] if text[index] in alphabet else "a"
    return text[:index] + swapped + text[index + 1 :]


@pytest.mark.parametrize(
    "garble",
    [
        lambda c: "",
        lambda c: c[:-1],
        lambda c: c + "a",
        lambda c: c.upper(),
        lambda c: c[:10] + "=" * 20,
        lambda c: c[:29] + "1",  # not base32
        lambda c: "lbcdefgh23" + c[10:],  # 'l' is never in a session id
        lambda c: "zzzzzzzz22" + c[10:],  # another session: its MAC does not match
        lambda c: _flip(c, 12),  # the slot
        lambda c: _flip(c, 20),  # the MAC
        lambda c: _flip(c, 29),
        lambda c: "../../api/sites" + c[15:],
        lambda c: c[:10] + "é" * 20,
    ],
)
def test_a_garbled_or_forged_code_is_unknown(garble) -> None:  # type: ignore[no-untyped-def]
    code = KEY.draw(SESSION, "nga-thanh", T0).text
    with pytest.raises(UnknownCode):
        KEY.read(garble(code), SITES, T0)


def test_a_code_for_a_hall_the_session_does_not_invite_is_unknown() -> None:
    code = KEY.draw(SESSION, "nga-thanh", T0).text
    with pytest.raises(UnknownCode):
        KEY.read(code, ["tan-loc", "ubnd"], T0)


def test_another_key_draws_other_codes() -> None:
    other = CheckinKey(LinkKey(bytes(range(1, 33))).derived("checkin"))
    code = other.draw(SESSION, "nga-thanh", T0).text
    assert code != KEY.draw(SESSION, "nga-thanh", T0).text
    with pytest.raises(UnknownCode):
        KEY.read(code, SITES, T0)
    # Nor is the link key itself the check-in key.
    assert LinkKey(bytes(range(32))).derived("checkin") != bytes(range(32))


def test_a_bad_session_id_is_not_drawn() -> None:
    with pytest.raises(ValueError):
        KEY.draw("Not-An-Id!", "nga-thanh", T0)


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
site_ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)


@given(drawn=moments, later=st.floats(min_value=0, max_value=3 * 86400), site=site_ids)
def test_a_code_reads_back_to_its_hall_valid_exactly_while_its_slot_or_the_next_lasts(
    drawn: datetime, later: float, site: str
) -> None:
    code = KEY.draw(SESSION, site, drawn)
    read_at = drawn + timedelta(seconds=later)
    read = KEY.read(code.text, ["other", site], read_at)
    assert read.site_id == site and read.session_id == SESSION
    assert (read.state == "valid") == (read_at < code.expires_at)
    # Never more than a minute, never less than 30 s after it was drawn.
    assert timedelta(seconds=30) < code.expires_at - drawn <= timedelta(seconds=60)


@given(drawn=moments, index=st.integers(min_value=10, max_value=CODE_LENGTH - 1))
def test_any_one_changed_character_makes_a_code_unknown(drawn: datetime, index: int) -> None:
    code = KEY.draw(SESSION, "tan-loc", drawn).text
    with pytest.raises(UnknownCode):
        KEY.read(_flip(code, index), SITES, drawn)


@given(text=st.text(max_size=40))
def test_any_other_text_is_refused_as_unknown_never_crashes(text: str) -> None:
    with pytest.raises(UnknownCode):
        KEY.read(text, SITES, T0)
