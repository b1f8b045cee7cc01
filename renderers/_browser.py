"""Shared by the p5.js and Processing renderers: one headless Chromium per job.

The job writes ``page.html`` into its folder: a Content-Security-Policy that allows
the page's own inline scripts and nothing else (no fetch, XHR, frames, images, fonts
or scripts from anywhere, file:// included), the harness ``_sketch.js``, the library
(read once from ``$VAD_JS_DIR``, the npm folder that scripts/install.sh fills, bound
read-only into the jail by the host) and the sketch's code as a JSON string.

Chromium (Debian's headless shell, else the browser in headless mode) opens the page
from file:// as a child of the job, with a fresh profile in the job folder, and prints
the document (``--dump-dom``) once the page is idle or its virtual time budget is
spent; by then the harness has replaced the document with its one result. Everything
Chromium prints is hostile: its output goes to a file capped by the job's file size
limit and is read up to ``MAX_DOM`` bytes, the result must be one element of printable
ASCII holding a JSON object with a known status, and the PNG's header (size within
``MAX_IMAGE_PIXELS``) is checked before it is decoded. An endless loop never lets the
page go idle: Chromium is killed when the job's time (less a margin) is up.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import resource
import signal
import struct
import subprocess
import sys

from _protocol import (
    BLOCKED,
    CRASH,
    EMPTY,
    JOB,
    MEMORY,
    OK,
    RUNTIME,
    SYNTAX,
    TIMEOUT,
    TOO_LARGE,
    RenderFailure,
    fit_png,
)

JS_VAR = "VAD_JS_DIR"  # the npm folder (node_modules) holding the libraries
INSTALL_HINT = "run scripts/install.sh (it installs Chromium and, with npm, the libraries)"
CHROMES = (  # (binary, flags of its own): the headless shell starts faster
    ("/usr/lib/chromium/chromium-headless-shell", ()),
    ("/usr/lib/chromium/chromium", ("--headless",)),
)
FLAGS = (
    "--no-sandbox",  # the jail is the sandbox: Chromium's needs user namespaces or setuid
    "--single-process",  # renderer, GPU and network in one process: few threads and pids
    "--no-zygote",
    "--disable-gpu",
    "--force-device-scale-factor=1",  # one canvas pixel per pixel
    "--window-size=800,600",
    "--hide-scrollbars",
    "--mute-audio",
    "--no-first-run",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--noerrdialogs",
    "--js-flags=--max-old-space-size=1024",  # a memory bomb fails fast, as out of memory
    "--dump-dom",
)
VIRTUAL_BUDGET_MS = 5000  # virtual time: spent at once by an idle page
WAIT_MS = 3000  # virtual time the harness waits for a first frame after the load event
MAX_DOM = 32 << 20
MAX_IMAGE_PIXELS = 4096 * 4096
MARGIN_S = 1.5  # of the job's timeout, left to report a timeout ourselves
STATUSES = {OK, SYNTAX, RUNTIME, EMPTY, TOO_LARGE, TIMEOUT}
_RESULT = re.compile(rb'<pre id="vad-result">([\x20-\x7e]*)</pre>')
_INLINE_BREAK = re.compile(r"</script|<!--", re.I)
_HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sketch.js")
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; media-src data: blob:"
)
_TEXTS: dict[str, str | None] = {}  # the harness, each library (None: not installed)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return None


def library_path(rel: str) -> str:
    return os.path.join(os.environ.get(JS_VAR, ""), rel)


def preload(package: str, library: str) -> None:
    """Read the harness and the library once, in the zygote: ``library`` is its path in
    the npm folder, where ``package`` (``name@version``, the pin that scripts/install.sh
    installs) must be the version installed.

    Both go into the page as inline scripts, which must not hold ``</script`` or ``<!--``
    (a library that does is refused: its text is never rewritten)."""
    _TEXTS["harness"] = _read(_HARNESS)
    name, version = package.rsplit("@", 1)
    try:
        found = json.loads(_read(library_path(f"{name}/package.json")) or "")["version"]
    except (ValueError, KeyError, TypeError):
        found = None
    text = _read(library_path(library)) if os.environ.get(JS_VAR) and found == version else None
    _TEXTS[library] = None if text is None or _INLINE_BREAK.search(text) else text
    _TEXTS[f"{library}:missing"] = (
        f"{package} is not installed"
        + (f" (found {name}@{found})" if found and found != version else "")
        + (f" in {os.environ[JS_VAR]}" if os.environ.get(JS_VAR) else f" (${JS_VAR} is not set)")
    )


def _chromium() -> tuple[str, tuple[str, ...]]:
    for binary, own in CHROMES:
        if os.access(binary, os.X_OK):
            return binary, own
    raise RenderFailure(CRASH, f"Chromium is not installed: {INSTALL_HINT}")


def unavailable(library: str) -> str:
    """Why this machine cannot render sketches of ``library`` ("" when it can): the job's
    supervisor answers "crash" with it, since a job's own result may never claim it."""
    if _TEXTS.get(library) is None:
        missing = _TEXTS.get(f"{library}:missing") or f"{library} is not installed"
        return f"{missing}: {INSTALL_HINT}"
    if not any(os.access(binary, os.X_OK) for binary, _ in CHROMES):
        return f"Chromium is not installed: {INSTALL_HINT}"
    return ""


def page(mode: str, library: str, code: str) -> str:
    """The HTML page of one sketch."""
    text = _TEXTS.get(library)
    if text is None:
        missing = _TEXTS.get(f"{library}:missing") or f"{library} is not installed"
        raise RenderFailure(CRASH, f"{missing}: {INSTALL_HINT}")
    job = {"mode": mode, "code": code, "maxPixels": MAX_IMAGE_PIXELS, "waitMs": WAIT_MS}
    data = json.dumps(job, ensure_ascii=True).replace("<", "\\u003c").replace(">", "\\u003e")
    harness = _TEXTS["harness"] or ""
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        "<style>html, body { margin: 0; }</style>\n"
        f'<script type="application/json" id="vad-job">{data}</script>\n'
        f"<script>{harness}</script>\n<script>{text}</script>\n"
        "</head><body><script>__vadRun();</script></body></html>\n"
    )


def _timeout() -> float:
    return max(1.0, float(JOB.get("timeout_s", 20)) - MARGIN_S)


def _run_chromium(url: str) -> tuple[int, float]:
    """Run Chromium on the page: its exit status and the CPU seconds it used."""
    binary, own = _chromium()
    work = os.getcwd()
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": work,
        "TMPDIR": work,
        "XDG_CONFIG_HOME": os.path.join(work, ".config"),
        "XDG_CACHE_HOME": os.path.join(work, ".cache"),
    }
    argv = [binary, *own, *FLAGS, f"--user-data-dir={work}/profile",
            f"--virtual-time-budget={VIRTUAL_BUDGET_MS}", url]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open("dom.html", "wb") as out, open("chromium.log", "wb") as err:
        try:
            done = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                timeout=_timeout(), check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise RenderFailure(
                TIMEOUT, f"the sketch did not finish its first frame in {_timeout():.0f} s"
            ) from None
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.returncode, cpu


def _log_tail() -> str:
    """The last 4000 bytes of Chromium's own messages (however long the file grew)."""
    with open("chromium.log", "rb") as fh:
        fh.seek(max(0, os.fstat(fh.fileno()).st_size - 4000))
        return fh.read(4000).decode("utf-8", errors="replace")


def _failure(returncode: int, cpu_s: float) -> RenderFailure:
    """Why Chromium left no result (the end of its messages go to the job's log)."""
    tail = _log_tail()
    lines = [ln for ln in tail.splitlines() if "dbus" not in ln and "Floss" not in ln]
    print("\n".join(lines[-10:]), file=sys.stderr)
    if "V8 javascript OOM" in tail:
        return RenderFailure(MEMORY, "the sketch ran out of JavaScript memory")
    sig = -returncode if returncode < 0 else 0
    if sig == signal.SIGXFSZ:
        return RenderFailure(TOO_LARGE, "Chromium hit the file size limit")
    limit = float(JOB.get("limits", {}).get("cpu_s", 0)) or float("inf")
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_s >= limit - 0.5):
        return RenderFailure(TIMEOUT, "the sketch hit the CPU time limit")
    if sig == signal.SIGKILL:  # by the kernel: the jail's memory cgroup was full
        return RenderFailure(MEMORY, "Chromium was killed (out of memory)")
    if returncode != 0:
        return RenderFailure(RUNTIME, f"Chromium failed (exit status {returncode})")
    return RenderFailure(BLOCKED, "the sketch left its page (navigation is not allowed)")


def _result(returncode: int, cpu_s: float) -> dict:
    """The harness's result in the page that Chromium printed: checked, never trusted."""
    with open("dom.html", "rb") as fh:
        raw = fh.read(MAX_DOM + 1)
    if len(raw) > MAX_DOM:
        raise RenderFailure(TOO_LARGE, f"the page printed more than {MAX_DOM} bytes")
    found = _RESULT.findall(raw)
    if len(found) != 1:
        if found or b'id="vad-job"' in raw:  # still our page, or two results: not ours
            raise RenderFailure(RUNTIME, "the page was changed: it holds no single result")
        raise _failure(returncode, cpu_s)
    try:
        result = json.loads(found[0])
        status, reason = result["status"], result["reason"]
        if status not in STATUSES or not isinstance(reason, str):
            raise ValueError(status)
    except (ValueError, KeyError, TypeError):
        raise RenderFailure(RUNTIME, "the page left a malformed result") from None
    return result


def _save_png(result: dict, out_png: str) -> None:
    png = result.get("png")
    if not isinstance(png, str) or len(png) > MAX_DOM:
        raise RenderFailure(RUNTIME, "the page left no image")
    try:
        data = base64.b64decode(png, validate=True)
    except (binascii.Error, ValueError):
        raise RenderFailure(RUNTIME, "the page left an image that is not base64") from None
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise RenderFailure(RUNTIME, "the page left an image that is not a PNG")
    w, h = struct.unpack(">II", data[16:24])
    if w * h > MAX_IMAGE_PIXELS or not w or not h:
        raise RenderFailure(TOO_LARGE, f"the canvas is {w}x{h} pixels")
    with open(out_png, "wb") as fh:
        fh.write(data)


def render(mode: str, library: str, code: str, out_png: str, width: int, height: int) -> None:
    """Run the sketch in Chromium; save its canvas after one frame, fitted to the size."""
    with open("page.html", "w", encoding="utf-8") as fh:
        fh.write(page(mode, library, code))
    result = _result(*_run_chromium("file://" + os.path.join(os.getcwd(), "page.html")))
    if result["status"] != OK:
        raise RenderFailure(result["status"], result["reason"][:500])
    _save_png(result, out_png)
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    fit_png(out_png, width, height)
