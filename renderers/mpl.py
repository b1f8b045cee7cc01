"""matplotlib renderer: model code runs with the Agg backend in a forked child.

The figure taken is the *current* figure when the script ends (``plt.gcf()``): the last
one created or activated; when the script made none through pyplot, the last
``Figure`` it made itself (matplotlib's object-oriented API, ``Figure()`` and
``fig.savefig``). It is saved at exactly width x height pixels on white. A
script that draws nothing (no figure, or figures without any drawn element) gets
"empty_image"; ``plt.show()`` does nothing.
"""

from __future__ import annotations

import os

from _protocol import EMPTY, RenderFailure, run_script

VERSION = "matplotlib-2"
DPI = 100


def preload() -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    # Draw and save a typical figure once, so that caches (fonts, glyphs, text layout,
    # PNG writer) are warm in the parent and every forked child starts with them.
    import io

    import matplotlib.pyplot as plt
    import numpy  # noqa: F401
    from matplotlib import patches

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.add_patch(patches.Circle((0.5, 0.5), 0.2, color="red"))
    ax.add_patch(patches.Polygon([(0, 0), (1, 0), (0.5, 1)], color="blue"))
    ax.plot([0, 1], [0, 1], label="line")
    ax.text(0.1, 0.9, "warm-up 0123456789")
    ax.set_title("title")
    ax.legend()
    for size in (2.24, 4):
        fig.set_size_inches(size, size)
        fig.savefig(io.BytesIO(), format="png", dpi=DPI, facecolor="white",
                    pil_kwargs={"compress_level": 1})  # fmt: skip
    plt.close("all")


def _drawn(fig) -> int:
    count = len(fig.patches) + len(fig.texts) + len(fig.images) + len(fig.lines)
    for ax in fig.axes:
        count += sum(
            map(
                len,
                (ax.lines, ax.patches, ax.collections, ax.images, ax.texts, ax.artists, ax.tables),
            )
        )
    return count


def _figures_made() -> list:
    """Every Figure made from now on (pyplot's and the script's own), in order."""
    from matplotlib.figure import Figure

    made = []
    original = Figure.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    Figure.__init__ = init
    return made


def render(code: str, out_png: str, width: int, height: int) -> None:
    import matplotlib.pyplot as plt

    plt.show = lambda *a, **k: None
    made = _figures_made()
    run_script(code)
    if plt.get_fignums():
        fig = plt.gcf()
    elif made:  # no pyplot figure: the last one the script made itself
        fig = made[-1]
    else:
        raise RenderFailure(EMPTY, "the script made no figure")
    if not _drawn(fig):
        raise RenderFailure(EMPTY, "the figure has no drawn elements")
    fig.set_dpi(DPI)
    fig.set_size_inches(width / DPI, height / DPI)
    # quickly compressed: the host decodes and re-encodes every image anyway
    fig.savefig(out_png, dpi=DPI, facecolor="white", pil_kwargs={"compress_level": 1})
    plt.close("all")
