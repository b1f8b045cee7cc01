"""A drawing language, described once: everything vad needs to know of it.

A language is one module in ``renderers/`` (what runs inside the jail) plus one
:class:`Language` registered by name in a module of this package: its names, how its
code is found in replies and repaired, how comments are stripped for recognize, the
reference drawing of a shape concept, what the jail must give its jobs (among them the
files it prepares on the host, once per pool: :class:`HostFiles`), the guard,
and the containment probes that ``tests/test_languages.py`` (and ``vad doctor
--jail``) run over every registered language.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from vad.concepts.loader import Concept
from vad.concepts.reference import PLAIN, Prim, Style, layout
from vad.errors import SpecError
from vad.plugins import NameTaken, load_plugins

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


def _no_mapping() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class HostFiles:
    """What a language prepared on the host for its jobs (its ``prepare_host``): the
    render pool calls the hook once, when it starts, for each language it serves, and
    gives every jail the files of the languages that jail runs.

    binds: host path -> the path where the jail shows it, read-only (bound by a
        descriptor the host opens, alone, outside every job folder); a file or folder
        gone by the time a jail starts is left out, with the variables naming it.
    env: variables for the renderer; a value that is a path of ``binds`` in the jail
        names that file, and becomes its host path when jobs run unjailed.
    """

    binds: Mapping[str, str] = field(default_factory=_no_mapping)
    env: Mapping[str, str] = field(default_factory=_no_mapping)

    def host_path(self, jail_path: str) -> str | None:
        """The host path bound at ``jail_path`` (None: nothing is)."""
        return next((host for host, where in self.binds.items() if where == jail_path), None)

    def present(self) -> HostFiles:
        """Only the binds whose host path still exists, and the variables not naming
        one that was left out."""
        gone = {where for host, where in self.binds.items() if not os.path.exists(host)}
        return HostFiles(
            {host: where for host, where in self.binds.items() if where not in gone},
            {key: value for key, value in self.env.items() if value not in gone},
        )

    def unjailed_env(self) -> dict[str, str]:
        """The variables as jobs that run unjailed get them: host paths for jail paths."""
        host = {where: path for path, where in self.binds.items()}
        return {key: host.get(value, value) for key, value in self.env.items()}

    @staticmethod
    def merge(parts: Iterable[HostFiles]) -> HostFiles:
        """All of ``parts`` in one; ValueError when two bind different files at one path
        of the jail or set one variable two ways."""
        binds: dict[str, str] = {}
        env: dict[str, str] = {}
        for part in parts:
            for host, where in part.binds.items():
                other = next((h for h, w in binds.items() if w == where and h != host), None)
                if other is not None:
                    raise ValueError(f"{host} and {other} are both to be bound at {where}")
                if binds.setdefault(host, where) != where:
                    raise ValueError(f"{host} is to be bound at {binds[host]} and at {where}")
            for key, value in part.env.items():
                if env.setdefault(key, value) != value:
                    raise ValueError(f"${key} is set to {env[key]!r} and to {value!r}")
        return HostFiles(binds, env)


@dataclass(frozen=True)
class Language:
    """Everything a drawing language needs, in one place (registered by name).

    name: what ``--lang`` takes and the key of the prompt files' templates.
    display: how prompts and pages call it ("Python (matplotlib)").
    module: its renderer, ``renderers/<module>.py`` (unless ``renderer`` names one).
    suffix: file suffix of a program (exports, the correct task's files).
    aliases: other names ``--lang`` accepts.
    fences: info strings of fenced blocks that hold this language (lower case).
    markers: substrings that show bare code of this language in a reply.
    repair: trims a found block to the code and mends a truncated one (notes what it
        did); None when nothing of the language is in it.
    comment: how a line comment is opened and closed (("#", "") in Python): what
        strip_hints removes, and what the contract test writes to check it does.
    strip_hints: removes comments (and titles) that could name what is drawn.
    reference: code drawing a layout of primitives on a unit canvas (y downwards); it
        takes a ``style=`` keyword (:class:`vad.concepts.reference.Style`), which is
        left out for the plain style, so a plugin's may take the primitives alone.
    guard: the in-jail hint layer: "python-audit" (an audit hook) or "" (none).
    jail_paths: read-only host paths the jail of its jobs must show (beyond /usr and
        the Python install).
    limits: fields of vad.render.Limits its jobs need instead of the pool's (for a
        ``job_proc`` language, also its jail's: address space, pids).
    job_proc: each job runs in a jail started for it alone, whose /proc the job sees
        (holding that jail's processes only), instead of in a warm worker, whose jobs
        see no /proc (a browser cannot start without one).
    unavailable: says why the language cannot render on this machine, with the fix
        ("" when it can); None when it always can.
    probes: containment probes (see PROBES); a language that cannot express one
        (SVG has no loops) leaves it out.
    prepare_host: prepares what its jobs need of the host (TikZ: the preamble's format
        file, built when missing; the sketch languages: the JavaScript libraries' npm
        folder) and says how its jail shows it (:class:`HostFiles`); called once per
        render pool that serves the language, when the pool starts (None: nothing).
    bench_target: the goal `vad bench render` states for it.
    renderer: a plugin's renderer (vad/plugins.py): the absolute host path of its .py
        file, in a folder of its own, which every jail running the language shows
        read-only at the same path (and nothing else of the plugin's environment); ""
        for vad's own, ``renderers/<module>.py``.
    prompts: a plugin's prompt templates: task ("draw", "correct") -> style -> template,
        as a language's entry in ``prompts/<task>.yaml`` (where vad's own keep theirs).
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
    reference: Callable[..., str]
    comment: tuple[str, str]
    aliases: tuple[str, ...] = ()
    guard: str = ""
    jail_paths: tuple[str, ...] = ()
    limits: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    job_proc: bool = False
    unavailable: Callable[[], str] | None = None
    probes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    prepare_host: Callable[[], HostFiles] | None = None
    bench_target: str = ""
    syscalls: str = "drawing"
    sees_python: bool = True
    renderer: str = ""
    prompts: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))

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
    _check_renderer(language)
    names = (language.name, *language.aliases)
    for name in names:  # a name is registered once: never replaced, by vad or a plugin
        owner = _LANGUAGES.get(_ALIASES.get(name, ""))
        if owner is not None and owner is not language:
            where = f"renderer {owner.renderer}" if owner.renderer else "vad's own"
            raise NameTaken("language", name, f"language {owner.name!r} ({where})")
    _ALIASES.update(dict.fromkeys(names, language.name))
    _LANGUAGES[language.name] = language
    return language


def _check_renderer(language: Language) -> None:
    """A plugin's renderer is an existing .py file by its absolute path, in a folder that
    is no entry of sys.path (site-packages): the jail shows that whole folder."""
    path = language.renderer
    if not path:
        return
    if not (os.path.isabs(path) and path.endswith(".py") and os.path.isfile(path)):
        raise ValueError(f"language {language.name!r}: renderer {path!r} must be the absolute "
                         "path of its .py file (str(Path(__file__).with_name(...)))")  # fmt: skip
    folder = os.path.dirname(os.path.realpath(path))
    if not os.path.isfile(os.path.join(folder, "__init__.py")):
        raise ValueError(f"language {language.name!r}: renderer {path}: every jail running "
                         f"the language shows its folder, and {folder} is no package of the "
                         "plugin (it has no __init__.py): put the renderer in a subpackage "
                         "of its own, such as vad_myplugin/render/")  # fmt: skip
    if folder == "/" or folder in {os.path.realpath(p or ".") for p in sys.path}:
        raise ValueError(f"language {language.name!r}: renderer {path}: every jail running "
                         f"the language shows its folder, and {folder} holds more (it is on "
                         "sys.path): put the renderer in a folder of its own, such as the "
                         "plugin's package")  # fmt: skip


def _plugins() -> None:
    """The languages of installed packages (entry points ``vad.languages``), loaded on
    the first look-up, once vad's own are registered."""
    load_plugins("vad.languages")


def unregister_language(name: str) -> None:
    """Forget a language and its aliases (for tests that register one of their own)."""
    language = _LANGUAGES.pop(name)
    for alias in (language.name, *language.aliases):
        _ALIASES.pop(alias, None)


def language_names() -> list[str]:
    _plugins()
    return sorted(_LANGUAGES)


def all_languages() -> dict[str, Language]:
    _plugins()
    return dict(sorted(_LANGUAGES.items()))


def aliases() -> dict[str, str]:
    """Every name ``--lang`` takes, with the language it names."""
    _plugins()
    return dict(_ALIASES)


def get_language(name: str) -> Language:
    """The language called ``name`` (or an alias of it); a SpecError names the choices."""
    _plugins()
    if name in _ALIASES:
        return _LANGUAGES[_ALIASES[name]]
    raise SpecError(f"no renderer for language {name!r}: choose from {', '.join(language_names())}")


def reference_program(
    concept: Concept, language: str, style: Style | None = None, prims: list[Prim] | None = None
) -> str:
    """Code in ``language`` that draws the shape concept exactly as its attrs say (or
    the layout ``prims``, a changed one), in ``style`` (None: plainly, as Style())."""
    if concept.level != "shapes" or "shape" not in concept.attrs:
        raise ValueError(f"{concept.id}: reference drawings exist for shape concepts only")
    reference = get_language(language).reference
    parts = layout(concept) if prims is None else list(prims)
    if style is None or style == PLAIN:
        return reference(parts)
    return reference(parts, style=style)


def canonical(name: str) -> str:
    """The registered name of ``name`` (itself, or the language it is an alias of)."""
    return get_language(name).name
