"""Pages from the templates in ``vad/leaderboard/templates`` (Jinja2, autoescaped).

Every value a template prints is escaped for HTML unless it is ``Markup`` (the output of
a macro, or the build's own trusted pieces), and every control character in it is
written as its escape first (ESC as ``\\x1b``): a caption, a reply or a reason from a
model is text on every page, never markup. Links are built from ``href``/``src`` values
the build makes (``sample_href``, ``site_path``), never from a record's text.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

# Characters that are not text: C0 controls but tab and line breaks, DEL, C1 controls,
# lone surrogates. HTML forbids them; a terminal escape in a caption stays visible.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def visible(text: object) -> str:
    """``text`` with every control character written as its escape (ESC as '\\x1b')."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", str(text))  # fmt: skip


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return visible(value)


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("vad.leaderboard", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,  # a name a page forgot is an error, not a blank
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def render(template: str, **values: Any) -> str:
    """A whole page; ``warnings`` (lines shown first) and ``title`` as in base.html."""
    values.setdefault("warnings", [])
    return environment().get_template(template).render(**values)


def site_path(path: str) -> str:
    """A site-relative path as a URL: each segment percent-encoded (a '#', '?' or ':' in
    a run or file name stays part of the path)."""
    return quote(path, safe="/")


def sample_href(run: str, line: int) -> str:
    """The link to one sample's page."""
    return f"sample.html#run={quote(run, safe='')}&line={int(line)}"
