"""`diemcau demo`'s sample rosters: every sample site has one, and the import takes every line."""

from __future__ import annotations

from collections import Counter

from diemcau.server.demo import SAMPLE_SITES, sample_rosters
from diemcau.server.peoplecsv import parse_rosters_csv


def test_every_sample_site_has_a_roster_the_import_takes_whole() -> None:
    sites = [site_id for site_id, *_ in SAMPLE_SITES]
    rows = parse_rosters_csv(sample_rosters(people_per_site=12).encode(), set(sites))
    assert [row.error for row in rows if row.person is None] == []
    assert Counter(row.site for row in rows) == {site: 12 for site in sites}
    # Distinct people: each has its own member code, so its own id.
    assert len({row.person.id for row in rows if row.person is not None}) == 12 * len(sites)
