"""Lines on the terminal while a progress bar is drawn."""

from __future__ import annotations

import contextlib
import sys
from typing import Any


def say(bar: Any, line: str) -> None:
    """Print ``line`` on stderr above ``bar`` (a tqdm bar or None) without tearing it."""
    from tqdm import tqdm

    with contextlib.suppress(OSError):
        if bar is not None and not bar.disable:
            tqdm.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)
