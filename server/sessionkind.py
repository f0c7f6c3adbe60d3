"""The kind of a conference, which the period report counts apart: the key cadres' conferences
("hội nghị cán bộ chủ chốt") and the grassroots ones, for the party members of the communes
("hội nghị cấp cơ sở"). A district quotes one participation rate for each."""

from __future__ import annotations

from typing import Final, Literal, TypeGuard

SessionKind = Literal["key", "grassroots"]
KINDS: Final[tuple[SessionKind, ...]] = ("key", "grassroots")
# Most of a district's conferences are grassroots ones (a year: about 12 key, 800 grassroots),
# so a session created without a kind, or before kinds existed, is one.
DEFAULT_KIND: Final[SessionKind] = "grassroots"
KIND_LABELS_VI: Final[dict[str, str]] = {
    "key": "Hội nghị cán bộ chủ chốt",
    "grassroots": "Hội nghị cấp cơ sở",
}
KIND_RULE: Final = "must be one of: " + ", ".join(KINDS)


def is_kind(value: object) -> TypeGuard[SessionKind]:
    return isinstance(value, str) and value in KINDS
