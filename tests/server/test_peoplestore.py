"""The people's tables in the store (server/peoplestore.py): the migration that makes them, and
the roster's length as a site's expected, outside the API."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from diemcau.server.people import new_person
from diemcau.server.schema import MIGRATIONS, SCHEMA_VERSION, steps
from diemcau.server.store import Site, Store, UnknownSites

NOW = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


def test_a_database_of_before_the_rosters_migrates_with_its_sites_as_they_were(
    tmp_path: Path,
) -> None:
    path = tmp_path / "diemcau.sqlite3"
    # A database of version 5, the one before the rosters, with a site in it.
    with contextlib.closing(sqlite3.connect(path)) as db:
        for migration in MIGRATIONS[:5]:
            script, step = steps(migration)
            for statement in script:
                db.execute(statement)
            if step is not None:
                step(db)
        db.execute("PRAGMA user_version = 5")
        db.execute(
            "INSERT INTO sites VALUES ('nga-thanh', 'Xã Nga Thạnh', 'commune', 40, 'x', 'x')"
        )
        db.commit()
    store = Store.open(path)
    assert store.schema_version == SCHEMA_VERSION
    assert store.get_site("nga-thanh") == Site("nga-thanh", "Xã Nga Thạnh", "commune", 40)
    assert store.site_people("nga-thanh") == []
    store.close()


def test_put_rosters_says_what_changed_and_the_preview_agrees(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "diemcau.sqlite3")
    store.put_site(Site("nga-thanh", "Xã Nga Thạnh", "commune", 40), NOW)
    an = new_person("nga-thanh", "Nguyễn Văn An", "38.1", "Bí thư", "")
    binh = new_person("nga-thanh", "Lê Thị Bình", None, "", "")
    first = store.put_rosters({"nga-thanh": [an, binh]}, NOW)
    assert [(c.site_id, c.results, c.removed) for c in first] == [
        ("nga-thanh", ("created", "created"), 0)
    ]
    moved = new_person("nga-thanh", "Nguyễn Văn An", "38.1", "Phó Bí thư", "")
    rosters = {"nga-thanh": [moved]}
    preview = store.preview_rosters(rosters)
    assert store.site_people("nga-thanh") == [an, binh]
    assert store.put_rosters(rosters, NOW) == preview
    assert [(c.results, c.removed) for c in preview] == [(("updated",), 1)]
    assert store.site_people("nga-thanh") == [moved]
    assert store.get_site("nga-thanh") == Site("nga-thanh", "Xã Nga Thạnh", "commune", 1)
    assert store.delete_roster("nga-thanh") == 1
    assert store.get_site("nga-thanh") == Site("nga-thanh", "Xã Nga Thạnh", "commune", 40)
    store.close()


def test_put_rosters_of_a_site_deleted_meanwhile_changes_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "diemcau.sqlite3")
    store.put_site(Site("nga-thanh", "Xã Nga Thạnh", "commune", 40), NOW)
    an = new_person("nga-thanh", "Nguyễn Văn An", "38.1", "Bí thư", "")
    binh = new_person("phu-an", "Lê Thị Bình", None, "", "")
    with pytest.raises(UnknownSites) as raised:
        store.put_rosters({"nga-thanh": [an], "phu-an": [binh]}, NOW)
    assert raised.value.site_ids == ["phu-an"]
    assert store.site_people("nga-thanh") == []
    store.close()
