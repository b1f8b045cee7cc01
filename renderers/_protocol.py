"""The job protocol shared by every renderer (runs inside the sandbox; no vad imports).

A renderer is started as ``python renderers/<lang>.py JOB_DIR``. JOB_DIR holds
``job.json`` ({"code_file", "width", "height", "max_code_bytes"}) and the code file.
The renderer writes ``out.png`` and ``result.json`` ({"status", "reason"}) into JOB_DIR
and exits 0, whatever the drawing code did.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable

OK, SYNTAX, RUNTIME, EMPTY, BLOCKED, TOO_LARGE, MEMORY = (
    "ok", "syntax_error", "runtime_error", "empty_image", "blocked", "too_large", "memory",
)  # fmt: skip


class RenderFailure(Exception):
    """Raised by a renderer to report a typed failure."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def is_blank(png_path: str) -> bool:
    """True if every pixel of the image has the same colour."""
    from PIL import Image

    with Image.open(png_path) as img:
        extrema = img.convert("RGB").getextrema()
    return all(lo == hi for lo, hi in extrema)


def run(render: Callable[[str, str, int, int], None]) -> None:
    """Read the job, call ``render(code, out_png, width, height)``, write the result."""
    job_dir = sys.argv[1]
    with open(os.path.join(job_dir, "job.json"), encoding="utf-8") as fh:
        job = json.load(fh)
    out = os.path.join(job_dir, "out.png")
    result = {"status": OK, "reason": ""}
    try:
        code_path = os.path.join(job_dir, job["code_file"])
        if os.path.getsize(code_path) > job.get("max_code_bytes", 1 << 20):
            raise RenderFailure(TOO_LARGE, f"code is larger than {job['max_code_bytes']} bytes")
        with open(code_path, encoding="utf-8", errors="replace") as fh:
            code = fh.read()
        render(code, out, int(job["width"]), int(job["height"]))
        if not os.path.isfile(out):
            raise RenderFailure(EMPTY, "the code produced no image")
        if is_blank(out):
            raise RenderFailure(EMPTY, "the image is a single flat colour")
    except RenderFailure as exc:
        result = {"status": exc.status, "reason": exc.reason}
    except MemoryError:
        result = {"status": MEMORY, "reason": "out of memory"}
    except Exception as exc:
        tail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        result = {"status": RUNTIME, "reason": tail[:2000]}
    with open(os.path.join(job_dir, "result.json"), "w", encoding="utf-8") as fh:
        json.dump(result, fh)
