"""Run images copied into the site: once each, never through a symlink or out of a run."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from vad.fsutil import read_regular


class Images:
    """The site's copies of run images, made on first use."""

    def __init__(self, site: Path, folders: dict[str, Path]) -> None:
        self.site, self.folders = site, folders
        self._copied: dict[tuple[str, str], str | None] = {}
        # (run, line) -> the shapes verifier's verdict on the drawing (the tables' own)
        self.verdicts: dict[tuple[str, int], dict[str, Any] | None] = {}

    def verdict_html(self, run: str, line: int) -> str:
        """A line under a drawing: verified, or the first attribute that is not right."""
        found = self.verdicts.get((run, line))
        if not found:
            return ""
        if found.get("verified") is True:
            return "<br><small class='ok' title='every attribute right'>&#10003; verified</small>"
        reason = escape(str(found.get("reason") or "not verified"), quote=True)
        return f"<br><small class='fail' title='{reason}'>&#10007; {reason}</small>"

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
