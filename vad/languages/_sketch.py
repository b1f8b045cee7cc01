"""What the sketch languages (p5.js, Processing) share: C-like comments, braces, the
reference drawing, the JavaScript libraries' folder (which their ``prepare_host`` shows
their jails, read-only)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from vad.concepts.reference import HEX, PLAIN, STROKE, Style, ellipse_points, polygon, rgb
from vad.languages.base import HostFiles, Prim

JS_VAR = "VAD_JS_DIR"  # the npm folder (node_modules) that scripts/install.sh fills
JS_JAIL_PATH = "/js"  # where a sketch job's jail shows it, read-only

# Chromium (renderers/_browser.py) cannot run in the warm worker's jobs: it aborts without
# /proc (its own executable is /proc/self/exe) and with less than about 90 GiB of address
# space (V8's and PartitionAlloc's reservations, not memory), and its one process runs
# about 40 threads, which the pids cgroup counts. So each sketch job gets a jail of its
# own (job_proc), an address-space limit it can start under, and more pids; what it may
# use is bounded by the memory cgroup of that jail (worker_memory_bytes, as for every
# worker), which a jailed sketch job needs (the pool refuses it without one). Its jail
# also shows the host's fontconfig cache, read-only: without it every job would spend
# about a second scanning the fonts again.
CHROMIUM_LIMITS = {"memory_bytes": 256 << 30, "worker_address_bytes": 256 << 30, "max_pids": 128}
CHROMIUM_PATHS = ("/var/cache/fontconfig",)


def js_dir() -> Path:
    """The npm folder that scripts/install.sh fills with p5.js and Processing.js:
    ``$VAD_JS_DIR`` if set, else ``share/vad/js/node_modules`` under the Python prefix."""
    override = os.environ.get(JS_VAR)
    return Path(override) if override else Path(sys.prefix, "share", "vad", "js", "node_modules")


def prepare_host() -> HostFiles:
    """The npm folder, bound read-only at JS_JAIL_PATH and named to the renderer by
    $VAD_JS_DIR (left out when there is none: the language says how to install it)."""
    return HostFiles({str(js_dir()): JS_JAIL_PATH}, {JS_VAR: JS_JAIL_PATH})


def installed(package: str) -> str:
    """Why ``package`` cannot be used here, with the fix ("" when it is installed)."""
    if (js_dir() / package / "package.json").is_file():
        return ""
    return f"{package} is not installed in {js_dir()}: run scripts/install.sh"


_TOKEN = re.compile(
    r"//[^\n]*|/\*.*?(?:\*/|$)"  # comments (a block comment may be cut off)
    r"|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`"  # strings
    r"|[{}]",
    re.S,
)


def strip_comments(code: str) -> str:
    """The code without ``//`` and ``/* */`` comments (strings are left alone)."""

    def keep(match: re.Match[str]) -> str:
        text = match.group(0)
        return "" if text.startswith(("//", "/*")) else text

    return _TOKEN.sub(keep, code)


def repair(code: str, notes: list[str], starts: tuple[str, ...] | re.Pattern[str]) -> str | None:
    """From the first line that starts like code of the sketch (``starts``: prefixes, or a
    pattern that matches the line's start) to its last brace at depth 0; a truncated
    sketch is cut after its last complete statement and its open braces are closed."""

    def code_like(line: str) -> bool:
        if isinstance(starts, re.Pattern):
            return starts.match(line) is not None
        return line.lstrip().startswith(starts)

    lines = code.split("\n")
    first = next((i for i, ln in enumerate(lines) if code_like(ln)), None)
    if first is None:
        return None
    if first > 0 and "\n".join(lines[:first]).strip():
        notes.append("dropped text before the sketch")
    code = "\n".join(lines[first:])
    depth, last_top, last_statement = 0, -1, -1
    for match in _TOKEN.finditer(code):
        text = match.group(0)
        if text == "{":
            depth += 1
        elif text == "}":
            depth = max(0, depth - 1)
            last_statement = match.end()
            if depth == 0:
                last_top = match.end()
    if depth == 0:
        tail = code[last_top:] if last_top >= 0 else ""
        if last_top >= 0 and tail.strip() and not re.search(r"[;)]\s*$", tail.strip()):
            notes.append("dropped text after the sketch")
            return code[:last_top]
        return code
    body = strip_comments(code)
    cut = max(body.rfind(";"), body.rfind("}"), last_statement)
    kept = body[: cut + 1] if cut >= 0 else body
    opened = sum(1 for m in _TOKEN.finditer(kept) if m.group(0) == "{")
    closed = sum(1 for m in _TOKEN.finditer(kept) if m.group(0) == "}")
    notes.append(f"closed a truncated sketch ({opened - closed} open braces)")
    return kept.rstrip() + "\n" + "}\n" * max(0, opened - closed)


def reference(prims: list[Prim], head: list[str], size: int = 224, style: Style = PLAIN) -> str:
    """A setup() drawing the primitives (p5.js and Processing share the shape calls); a
    turned ellipse is drawn as the polygon of its outline (their rotations differ)."""
    background = ", ".join(map(str, rgb(style.background))) if style.background else "255"
    paint = ["  noFill();", f"  strokeWeight({STROKE * size:.2f});"] if style.outline else [
        "  noStroke();"]  # fmt: skip
    lines = [*head, f"  background({background});", *paint]
    for shape, color, cx, cy, r in prims:
        colour = ", ".join(map(str, rgb(HEX[color])))
        lines.append(f"  {'stroke' if style.outline else 'fill'}({colour});")
        x, y, d = cx * size, cy * size, 2 * r * size
        if shape == "circle" or (shape == "ellipse" and not style.angle):
            h = d if shape == "circle" else d * 0.6
            lines.append(f"  ellipse({x:.1f}, {y:.1f}, {d:.1f}, {h:.1f});")
        else:
            pts = (ellipse_points(cx, cy, r, style.angle) if shape == "ellipse"
                   else polygon(shape, cx, cy, r, style.angle) or [])  # fmt: skip
            lines.append("  beginShape();")
            lines += [f"  vertex({px * size:.1f}, {py * size:.1f});" for px, py in pts]
            lines.append("  endShape(CLOSE);")
    return "\n".join([*lines, "}"]) + "\n"


def probes(setup: str) -> dict[str, str]:
    """The containment probes of a sketch language whose setup() opens with ``setup``
    (each draws only if the forbidden thing worked)."""
    draw = "  background(255); fill(255, 0, 0); rect(10, 10, 40, 40);\n"
    return {
        "read_outside": f"{setup}\n  var x = new XMLHttpRequest();\n"
        "  x.open('GET', 'file://@SECRET_FILE@', false); x.send();\n"
        f"  if (x.responseText.length > 0) {{\n{draw}  }}\n}}\n",
        "network": f"{setup}\n  var x = new XMLHttpRequest();\n"
        "  x.open('GET', '@URL@', false); x.send();\n"
        f"  if (x.status == 200) {{\n{draw}  }}\n}}\n",
        "endless_loop": f"{setup}\n{draw}  while (true) {{ }}\n}}\n",
    }
