"""web/js/headcamtiles.js in Chromium: where the camera count looks (the tiles cover the picture,
overlapping as asked) and how it adds up what it saw (one face per group of boxes on the same
place; a face cut by a tile's inner edge is left to the neighbour); and what the link's query
sets of it (headcam.js). Tables, no picture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from .conftest import static_page

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    page = await static_page(browser)
    await page.evaluate(
        "async () => { window.tiles = await import('/static/js/headcamtiles.js'); }"
    )
    yield page
    await page.close()


async def call(page: Page, name: str, *args: Any) -> Any:
    return await page.evaluate("([name, args]) => window.tiles[name](...args)", [name, list(args)])


def box(x: float, y: float, size: float, score: float = 0.9) -> dict[str, float]:
    return {"x": x, "y": y, "width": size, "height": size, "score": score}


@pytest.mark.parametrize(("cols", "rows", "overlap"), [(3, 2, 0.2), (2, 2, 0.0), (6, 6, 0.5)])
async def test_the_tiles_cover_the_picture_and_overlap_as_asked(
    page: Page, cols: int, rows: int, overlap: float
) -> None:
    found = await call(page, "tiles", 1280, 720, cols, rows, overlap)
    assert len(found) == cols * rows
    assert min(t["x"] for t in found) == 0 and min(t["y"] for t in found) == 0
    assert abs(max(t["x"] + t["width"] for t in found) - 1280) <= 1
    assert abs(max(t["y"] + t["height"] for t in found) - 720) <= 1
    first, second = found[0], found[1]
    shared = first["x"] + first["width"] - second["x"]
    assert abs(shared - overlap * first["width"]) <= 1


async def test_no_tiles_is_the_whole_picture_only(page: Page) -> None:
    assert await call(page, "tiles", 1280, 720, 0, 0, 0.2) == []


@pytest.mark.parametrize(
    ("faces", "kept"),
    [
        ([], 0),
        ([box(0, 0, 40)], 1),
        ([box(0, 0, 40), box(100, 0, 40)], 2),  # two neighbours in a row
        ([box(0, 0, 40), box(2, 2, 40, 0.6)], 1),  # the same face, seen twice
        ([box(0, 0, 60), box(10, 10, 20, 0.5)], 1),  # part of it, inside it
        ([box(0, 0, 40), box(25, 0, 40)], 2),  # overlapping by less than half
        ([box(0, 0, 40), box(15, 0, 40)], 1),  # by more than half
    ],
)
async def test_boxes_on_the_same_place_are_one_face(
    page: Page, faces: list[dict[str, float]], kept: int
) -> None:
    merged = await call(page, "mergeFaces", faces, 0.5)
    assert len(merged) == kept
    if faces:  # the best-scored box of a group is the one kept
        assert max(f["score"] for f in faces) == max(f["score"] for f in merged)


TILE = {"x": 400, "y": 0, "width": 500, "height": 400}  # inside a 1280x720 picture


@pytest.mark.parametrize(
    ("face", "cut"),
    [
        (box(100, 100, 50), False),
        (box(0, 100, 50), True),  # at its left edge, which is inside the picture
        (box(100, 0, 50), False),  # at its top edge, which is the picture's
        (box(450, 100, 50), True),  # at its right edge
        (box(100, 350, 50), True),  # at its bottom edge
    ],
)
async def test_a_face_cut_by_an_inner_edge_is_left_to_the_neighbour(
    page: Page, face: dict[str, float], cut: bool
) -> None:
    assert await call(page, "cutByTile", face, TILE, 1280, 720) is cut


DEFAULTS = {"every": 30, "threshold": 0.5, "cols": 3, "rows": 2, "overlap": 0.2}


@pytest.mark.parametrize(
    ("query", "settings"),
    [
        ("", DEFAULTS),
        ("?camera=180", DEFAULTS),  # the return feed's, not the count's
        (
            "?count_every=60&count_threshold=0.3&count_tiles=4x3&count_overlap=0.1",
            {"every": 60, "threshold": 0.3, "cols": 4, "rows": 3, "overlap": 0.1},
        ),
        ("?count_tiles=0", {**DEFAULTS, "cols": 0, "rows": 0}),  # the whole picture only
        # Out of range or not a number: the default, never an error.
        ("?count_every=1&count_threshold=2&count_tiles=9x9&count_overlap=0.9", DEFAULTS),
        ("?count_every=abc&count_threshold=&count_tiles=3x&count_overlap=-1", DEFAULTS),
    ],
)
async def test_the_links_query_sets_the_count(
    page: Page, query: str, settings: dict[str, float]
) -> None:
    found = await page.evaluate(
        """async (query) => (await import('/static/js/headcam.js')).headcamSettings(query)""",
        query,
    )
    assert found == settings
