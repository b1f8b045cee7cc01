"""Processing renderer: a Java-mode sketch, translated by Processing.js, in Chromium.

The code is a Processing sketch (``void setup() { size(400, 400); ... }``, ``void
draw() { ... }``), as the Processing IDE runs it; Processing.js (``PACKAGE``, the
version that scripts/install.sh installs) translates it to JavaScript: a sketch it
cannot translate, or whose translation does not parse, is a syntax error. setup() ends
with ``noLoop()``, so draw() runs exactly once, and the canvas at its own size is the
image (fitted to width x height). See _browser.py for the page and Chromium.
"""

from __future__ import annotations

import _browser

PACKAGE = "processing-js@1.6.6"  # npm's name@version: scripts/install.sh reads this line
LIBRARY = "processing-js/processing.min.js"
VERSION = f"processing-2 {PACKAGE}"


def unavailable() -> str:
    return _browser.unavailable(LIBRARY)


def preload() -> None:
    _browser.preload(PACKAGE, LIBRARY)


def render(code: str, out_png: str, width: int, height: int) -> None:
    _browser.render("processing", LIBRARY, code, out_png, width, height)
