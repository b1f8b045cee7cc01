"""Processing renderer: a Java-mode sketch, translated by Processing.js, in Chromium.

The code is a Processing sketch (``void setup() { size(400, 400); ... }``, ``void
draw() { ... }``), as the Processing IDE runs it; Processing.js (the version that
scripts/install.sh pins) translates it to JavaScript: a sketch it cannot translate,
or whose translation does not parse, is a syntax error. setup() ends with
``noLoop()``, so draw() runs exactly once, and the canvas at its own size is the
image (fitted to width x height). See _browser.py for the page and Chromium.
"""

from __future__ import annotations

import _browser

VERSION = "processing-1"
LIBRARY = "processing-js/processing.min.js"


def preload() -> None:
    global VERSION
    library = _browser.preload(LIBRARY)
    VERSION = f"{VERSION} processing.js {library}" if library else VERSION


def render(code: str, out_png: str, width: int, height: int) -> None:
    _browser.render("processing", LIBRARY, code, out_png, width, height)
