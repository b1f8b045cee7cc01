"""Real Chromium for page tests, driven by Playwright: the system's browser (the one the
jail renders p5 and Processing with), never a downloaded one.

``with chromium() as browser:`` gives a Playwright ``Browser``; ``watch(page)`` makes a
page record every dialog (alert, confirm, prompt: none may open) and every script error,
so a test can assert that hostile text executed nothing.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CANDIDATES = ("/usr/lib/chromium/chromium-headless-shell", "/usr/bin/chromium")


def executable() -> str | None:
    for path in CANDIDATES:
        if Path(path).is_file():
            return path
    return shutil.which("chromium") or shutil.which("chromium-headless-shell")


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    path = executable()
    assert path, "Chromium is required (scripts/install.sh installs it)"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def watch(page: Any) -> dict[str, list[str]]:
    """What went wrong on ``page``: dialogs opened (each dismissed) and script errors."""
    seen: dict[str, list[str]] = {"dialogs": [], "errors": []}

    def dialog(d: Any) -> None:
        seen["dialogs"].append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    return seen
