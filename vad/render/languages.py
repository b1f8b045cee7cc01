"""The drawing languages shipped with vad, each mapped to its module in renderers/, with
the jail relaxations (if any) that its jobs alone get."""

from __future__ import annotations

from types import MappingProxyType

from vad.render.base import Renderer, register_renderer
from vad.render.jail import js_dir


@register_renderer("svg")
class Svg(Renderer):
    module = "svg"


@register_renderer("matplotlib")
class Matplotlib(Renderer):
    module = "mpl"


@register_renderer("tikz")
class Tikz(Renderer):
    module = "tikz"


# Chromium (renderers/_browser.py) cannot run in the warm worker's jobs: it aborts without
# /proc (its own executable is /proc/self/exe) and with less than about 90 GiB of address
# space (V8's and PartitionAlloc's reservations, not memory), and its one process runs
# about 40 threads, which the pids cgroup counts. So each sketch job gets a jail of its
# own (job_proc), an address-space limit it can start under, and more pids; what it may
# use is bounded by the memory cgroup of that jail (worker_memory_bytes, as for every
# worker), which a jailed sketch job needs (the pool refuses it without one). Its jail
# also shows the host's fontconfig cache, read-only: without it every job would spend
# about a second scanning the fonts again.
CHROMIUM_LIMITS = MappingProxyType(
    {"memory_bytes": 256 << 30, "worker_address_bytes": 256 << 30, "max_pids": 128}
)


class _Sketch(Renderer):
    """A sketch language: Chromium in a jail of its own, a library from npm."""

    job_proc = True
    limit_overrides = CHROMIUM_LIMITS
    jail_ro_dirs = ("/var/cache/fontconfig",)
    jail_js = True
    package = ""  # the npm package, in js_dir()

    @classmethod
    def unavailable(cls) -> str:
        if (js_dir() / cls.package / "package.json").is_file():
            return ""
        return f"{cls.package} is not installed in {js_dir()}: run scripts/install.sh"


@register_renderer("p5")
class P5(_Sketch):
    module = "p5js"
    package = "p5"


@register_renderer("processing")
class Processing(_Sketch):
    module = "pde"
    package = "processing-js"
