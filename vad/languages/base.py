"""A drawing language, described once: everything vad needs to know of it.

A language is one module in ``renderers/`` (what runs inside the jail) plus one
:class:`Language` registered by name in a module of this package: its names, how its
code is found in replies and repaired, how comments are stripped for recognize, the
reference drawing of a shape concept, what the jail must give its jobs, the guard,
and the containment probes that ``tests/test_languages.py`` (and ``vad doctor
--jail``) run over every registered language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from vad.concepts.loader import Concept
from vad.concepts.reference import Prim, layout
from vad.errors import SpecError

Repair = Callable[[str, list[str]], "str | None"]

# The containment probes every language may answer: code that renders an image only if
# the forbidden thing worked. Placeholders: @SECRET_FILE@ (a host file outside the job
# folder), @OUTSIDE_DIR@ (a host folder the job must not write into), @URL@ (a server on
# the host's loopback that counts the requests it gets).
PROBES = ("read_outside", "write_outside", "network", "endless_loop", "fork")


def fill_probe(template: str, secret_file: str, outside_dir: str, url: str) -> str:
    """A probe's code with its placeholders filled in."""
    for key, value in (("@SECRET_FILE@", secret_file), ("@OUTSIDE_DIR@", outside_dir),
                       ("@URL@", url)):  # fmt: skip
        template = template.replace(key, value)
    return template


@dataclass(frozen=True)
class Language:
    """Everything a drawing language needs, in one place (registered by name).

    name: what ``--lang`` takes and the key of the prompt files' templates.
    display: how prompts and pages call it ("Python (matplotlib)").
    module: its renderer, ``renderers/<module>.py``.
    suffix: file suffix of a program (exports, the correct task's files).
    aliases: other names ``--lang`` accepts.
    fences: info strings of fenced blocks that hold this language (lower case).
    markers: substrings that show bare code of this language in a reply.
    repair: trims a found block to the code and mends a truncated one (notes what it
        did); None when nothing of the language is in it.
    comment: how a line comment is opened and closed (("#", "") in Python): what
        strip_hints removes, and what the contract test writes to check it does.
    strip_hints: removes comments (and titles) that could name what is drawn.
    reference: code drawing a layout of primitives on a unit canvas (y downwards).
    guard: the in-jail hint layer: "python-audit" (an audit hook) or "" (none).
    jail_paths: read-only host paths the jail of its jobs must show (beyond /usr and
        the Python install).
    limits: fields of vad.render.Limits its jobs need instead of the pool's (for a
        ``job_proc`` language, also its jail's: address space, pids).
    job_proc: each job runs in a jail started for it alone, whose /proc the job sees
        (holding that jail's processes only), instead of in a warm worker, whose jobs
        see no /proc (a browser cannot start without one).
    js_libraries: its jail shows the JavaScript libraries' npm folder read-only.
    unavailable: says why the language cannot render on this machine, with the fix
        ("" when it can); None when it always can.
    probes: containment probes (see PROBES); a language that cannot express one
        (SVG has no loops) leaves it out.
    bench_target: the goal `vad bench render` states for it.
    sees_python: its jobs see the Python install and the renderers (False for TeX, which
        runs as a program: its jobs' supervisor hides them, so that TeX's file primitives
        find nothing of them to read).
    syscalls: which seccomp profile its jobs run under (renderers/_ns.py's PROFILES):
        "drawing" (no memfds, SysV IPC, message queues or inotify) or "browser".
    """

    name: str
    display: str
    module: str
    suffix: str
    fences: tuple[str, ...]
    markers: tuple[str, ...]
    repair: Repair
    strip_hints: Callable[[str], str]
    reference: Callable[[list[Prim]], str]
    comment: tuple[str, str]
    aliases: tuple[str, ...] = ()
    guard: str = ""
    jail_paths: tuple[str, ...] = ()
    limits: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    job_proc: bool = False
    js_libraries: bool = False
    unavailable: Callable[[], str] | None = None
    probes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    bench_target: str = ""
    syscalls: str = "drawing"
    sees_python: bool = True

    def mentions(self, text: str) -> bool:
        """Whether ``text`` shows code of this language."""
        return any(marker in text for marker in self.markers)

    def fence_matches(self, info: str) -> bool:
        words = info.strip().lower().split()
        return bool(words) and (words[0] in self.fences or words[0] in (self.name, *self.aliases))


GUARDS = ("", "python-audit")
SYSCALL_PROFILES = ("drawing", "browser")
_LANGUAGES: dict[str, Language] = {}
_ALIASES: dict[str, str] = {}


def register_language(language: Language) -> Language:
    """Make ``language`` available by its name and aliases (a module calls this once)."""
    if language.guard not in GUARDS:
        raise ValueError(f"{language.name}: unknown guard {language.guard!r}")
    if language.syscalls not in SYSCALL_PROFILES:
        raise ValueError(f"{language.name}: unknown syscalls profile {language.syscalls!r}")
    unknown = set(language.probes) - set(PROBES)
    if unknown:
        raise ValueError(f"{language.name}: unknown probes {sorted(unknown)}")
    for name in (language.name, *language.aliases):
        owner = _ALIASES.get(name)
        if owner not in (None, language.name):
            raise ValueError(f"language name {name!r} is taken by {owner!r}")
        _ALIASES[name] = language.name
    _LANGUAGES[language.name] = language
    return language


def unregister_language(name: str) -> None:
    """Forget a language and its aliases (for tests that register one of their own)."""
    language = _LANGUAGES.pop(name)
    for alias in (language.name, *language.aliases):
        _ALIASES.pop(alias, None)


def language_names() -> list[str]:
    return sorted(_LANGUAGES)


def all_languages() -> dict[str, Language]:
    return dict(sorted(_LANGUAGES.items()))


def aliases() -> dict[str, str]:
    """Every name ``--lang`` takes, with the language it names."""
    return dict(_ALIASES)


def get_language(name: str) -> Language:
    """The language called ``name`` (or an alias of it); a SpecError names the choices."""
    if name in _ALIASES:
        return _LANGUAGES[_ALIASES[name]]
    raise SpecError(f"no renderer for language {name!r}: choose from {', '.join(language_names())}")


def reference_program(concept: Concept, language: str) -> str:
    """Code in ``language`` that draws the shape concept exactly as its attrs say."""
    if concept.level != "shapes" or "shape" not in concept.attrs:
        raise ValueError(f"{concept.id}: reference drawings exist for shape concepts only")
    return get_language(language).reference(layout(concept))


def canonical(name: str) -> str:
    """The registered name of ``name`` (itself, or the language it is an alias of)."""
    return get_language(name).name
