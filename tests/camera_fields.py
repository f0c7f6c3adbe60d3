"""The fields the hall camera's count adds to each site entry of the attendance report (issue 15
§4, server/attendance/camera.py), as a site without camera counts has them: the tests of the
report's exact shape add these to what they expected before. The CSV's columns stay as they
were (a contract read by scripts)."""

from __future__ import annotations

from typing import Any

NO_CAMERA_SITE: dict[str, Any] = {"people_count": None, "people_count_disagrees": None}
CAMERA_SITE_FIELDS = list(NO_CAMERA_SITE)
