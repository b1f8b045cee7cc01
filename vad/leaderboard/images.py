"""Run images copied into the site: once each, never through a symlink or out of a run;
and a drawing as the templates show it (its image, its sample page, its verdict)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vad.fsutil import image_type, read_regular
from vad.leaderboard.render import sample_href, site_path


class Images:
    """The site's copies of run images, made on first use."""

    def __init__(self, site: Path, folders: dict[str, Path]) -> None:
        self.site, self.folders = site, folders
        # a run's copies go under images/r<N>/ (N: its place among the runs): a run's
        # name (which may be '..') never becomes a path in the site
        self.dirs = {run: f"r{i}" for i, run in enumerate(sorted(folders))}
        self._copied: dict[tuple[str, str], str | None] = {}
        # (run, line) -> the shapes verifier's verdict on the drawing (the tables' own)
        self.verdicts: dict[tuple[str, int], dict[str, Any] | None] = {}

    def drawing(self, run: str, line: int, rec: dict[str, Any]) -> dict[str, Any]:
        """A sample as a cell of a grid (macros.html ``drawing``)."""
        src = self.src(run, rec)
        return {"href": sample_href(run, line), "src": site_path(src) if src else None,
                "caption": str(rec.get("caption", "")), "status": str(rec.get("status")),
                "verdict": self.verdicts.get((run, line))}  # fmt: skip

    def src(self, run: str, rec: dict[str, Any]) -> str | None:
        """The site-relative path of a record's image, or None where it has none or its
        file is not a regular file inside the run folder."""
        image = rec.get("image")
        if not image:
            return None
        if (run, image) not in self._copied:
            self._copied[(run, image)] = self._copy(run, image)
        return self._copied[(run, image)]

    def _copy(self, run: str, image: str) -> str | None:
        data = read_regular(self.folders[run], image)
        if not data or image_type(data) is None:
            return None  # not a raster image (an SVG, a page, a manifest): never copied
        rel = Path("images") / self.dirs[run] / image
        dest = self.site / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        return rel.as_posix()
