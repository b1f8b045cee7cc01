"""What the Python drawing languages share: repair of a reply's script, comment stripping."""

from __future__ import annotations

import io
import re
import tokenize


def repair_python(code: str, notes: list[str]) -> str | None:
    """From the first import on, the longest prefix of lines that compiles."""
    lines = code.rstrip().split("\n")
    first = next((i for i, ln in enumerate(lines) if re.match(r"\s*(import|from)\s+\w", ln)), None)
    if first is None:
        first = 0
    elif first > 0:
        notes.append("dropped text before the first import")
        lines = lines[first:]
    for cut in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:cut])
        try:
            compile(candidate, "<drawing>", "exec")
        except SyntaxError:
            continue
        if cut < len(lines):
            notes.append(f"dropped {len(lines) - cut} trailing lines that did not parse")
        return candidate
    notes.append("code does not parse")
    return "\n".join(lines)


def strip_python_comments(code: str) -> str:
    """The script without its comments (by tokens; line by line if it does not tokenize)."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(code).readline)
                  if t.type != tokenize.COMMENT]  # fmt: skip
        return tokenize.untokenize(tokens)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("#"))


def python_probes(draw: str) -> dict[str, str]:
    """The containment probes for a Python language whose drawing statement is ``draw``."""
    return {
        "read_outside": f"secret = open('@SECRET_FILE@').read()\n{draw}\n",
        "write_outside": f"open('@OUTSIDE_DIR@/written', 'w').write('x')\n{draw}\n",
        "network": f"import urllib.request\nurllib.request.urlopen('@URL@', timeout=3)\n{draw}\n",
        "endless_loop": f"{draw}\nwhile True:\n    pass\n",
        "fork": f"import os\nwhile True:\n    os.fork()\n{draw}\n",
    }
