"""The people a site expects: a person of a roster, their stable id, and the keys their name is
matched by. Pure; the store keeps them (server/peoplestore.py), the CSV brings them
(server/peoplecsv.py).

A person's id is derived, never stored alone: from the site and the member code when there is
one, else from the site and the name as a key (NFC, case and spacing folded, diacritics kept:
"Nguyễn Văn A" and "Nguyễn Vân A" are two people). So an office that re-imports its list keeps
every id, and with it every check-in of a session that snapshotted the list before.
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from dataclasses import dataclass

# The length of a person's id after its prefix: 80 bits of a hash, in lowercase base32.
_ID_BYTES = 10
ID_PREFIX = "p-"


@dataclass(frozen=True)
class Person:
    """One person expected at a site: on its roster, or in a session's snapshot of it."""

    id: str
    site_id: str
    name: str
    code: str | None  # the party member code, when the roster gives one
    position: str  # chức vụ
    unit: str  # đơn vị


def name_key(name: str) -> str:
    """The name as ids compare it: NFC, casefolded, spaces collapsed; diacritics kept."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def search_key(text: str) -> str:
    """Text as a search compares it: name_key without diacritics ("nguyen van a" finds
    "Nguyễn Văn A"); đ, which Unicode does not decompose, becomes d."""
    decomposed = unicodedata.normalize("NFD", name_key(text))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.replace("đ", "d")


def person_id(site_id: str, name: str, code: str | None) -> str:
    """The person's stable id: from the site and the code, or the site and the name's key."""
    basis = f"code\x1f{code}" if code else f"name\x1f{name_key(name)}"
    digest = hashlib.sha256(f"{site_id}\x1f{basis}".encode()).digest()[:_ID_BYTES]
    return ID_PREFIX + base64.b32encode(digest).decode("ascii").lower()


def new_person(site_id: str, name: str, code: str | None, position: str, unit: str) -> Person:
    return Person(person_id(site_id, name, code), site_id, name, code or None, position, unit)
