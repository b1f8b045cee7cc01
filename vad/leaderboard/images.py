"""Run images copied into the site: once each, never through a symlink or out of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vad.fsutil import read_regular


class Images:
    """The site's copies of run images, made on first use."""

    def __init__(self, site: Path, folders: dict[str, Path]) -> None:
        self.site, self.folders = site, folders
        self._copied: dict[tuple[str, str], str | None] = {}

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
        if not data:
            return None
        rel = Path("images") / run / image
        dest = self.site / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        return rel.as_posix()
