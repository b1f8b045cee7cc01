"""p5.js renderer: the sketch's setup() and one draw() in headless Chromium.

The code is a p5.js 1.x sketch in global mode (``function setup() { createCanvas(400,
400); ... }``, ``function draw() { ... }``) or instance mode (``new p5(...)``). It
runs as a script of its own on a page with p5.js (``PACKAGE``, the version that
scripts/install.sh installs); setup() ends with ``noLoop()``, so p5 draws exactly one
frame, and that frame's canvas, at its own size, is the image (fitted to width x
height). A sketch without setup() or draw() is an empty image. See _browser.py for the
page and Chromium.
"""

from __future__ import annotations

import _browser

PACKAGE = "p5@1.11.11"  # npm's name@version: scripts/install.sh reads this line
LIBRARY = "p5/lib/p5.min.js"
VERSION = f"p5js-2 {PACKAGE}"


def unavailable() -> str:
    return _browser.unavailable(LIBRARY)


def preload() -> None:
    _browser.preload(PACKAGE, LIBRARY)


def render(code: str, out_png: str, width: int, height: int) -> None:
    _browser.render("p5", LIBRARY, code, out_png, width, height)
