"""Extensions from installed packages: languages, tasks, scorers and strategies.

A distribution extends vad by naming modules in the entry point groups of ``GROUPS``
(``[project.entry-points."vad.scorers"]`` in its pyproject.toml). vad imports each
such module once, when the registry of its group is first looked up (after vad's own
modules of that group), and the module registers what it brings through the same
public functions vad's own modules use: ``register_language``, ``register_task``,
``register_scorer``, ``STRATEGIES.register``, ``register_engine``.

A plugin that cannot be imported, or that registers a name already taken (by vad or by
another plugin), stops vad with one :class:`PluginError` naming the plugin (its
distribution and entry point), the problem and the fix: nothing is skipped in
silence, and nothing replaces one of vad's own.

A leaf: it imports nothing of vad but its errors (the registries call it).
"""

from __future__ import annotations

import os
import threading
import traceback
from importlib.metadata import EntryPoint, entry_points

from vad.errors import VadError

# entry point group -> what its modules register
GROUPS = {"vad.languages": "language", "vad.tasks": "task", "vad.scorers": "scorer",
          "vad.strategies": "strategy", "vad.engines": "engine"}  # fmt: skip


class PluginError(VadError):
    """An installed plugin cannot be used: its module failed to import, or it took a name."""


class NameTaken(ValueError):
    """Raised by a registry asked to register a name it already holds."""

    def __init__(self, kind: str, name: str, owner: str) -> None:
        self.kind, self.name, self.owner = kind, name, owner
        super().__init__(f"{kind} name {name!r} is already taken by {owner}")


_LOCK = threading.RLock()
# group -> "loading", "loaded", or the error loading it stopped at (raised again on use)
_STATE: dict[str, str | PluginError] = {}


def describe(entry: EntryPoint) -> str:
    """'plugin 'dist 1.0' (entry point 'name = module' in group 'vad.scorers')'."""
    dist = entry.dist
    who = f"{dist.name} {dist.version}" if dist is not None else "of an unknown distribution"
    return f"plugin {who!r} (entry point '{entry.name} = {entry.value}' in group {entry.group!r})"


def _uninstall(entry: EntryPoint) -> str:
    return f"pip uninstall {entry.dist.name}" if entry.dist is not None else "uninstall it"


def _where(exc: BaseException) -> str:
    """' (at FILE, line N)': the innermost frame of the plugin's own code (outside vad
    and the import machinery)."""
    own = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<frozen") and "/importlib/" not in f.filename
              and not os.path.abspath(f.filename).startswith(own)]  # fmt: skip
    return f" (at {frames[-1].filename}, line {frames[-1].lineno})" if frames else ""


def load_entry(entry: EntryPoint) -> None:
    """Import one plugin's module; any failure becomes a PluginError that names it."""
    try:
        entry.load()
    except PluginError:  # a plugin of another group it looked up
        raise
    except NameTaken as exc:
        raise PluginError(
            f"{describe(entry)} registers {exc.kind} {exc.name!r}, a name already taken by "
            f"{exc.owner}: a plugin can neither replace nor shadow what vad or another plugin "
            f"registered. Fix: give it another name in the plugin, or {_uninstall(entry)}"
        ) from None
    except Exception as exc:
        raise PluginError(
            f"{describe(entry)} failed to load: {type(exc).__name__}: {exc}{_where(exc)}. "
            f"Fix: repair the plugin (or install what it imports), or {_uninstall(entry)}"
        ) from None


def installed(group: str) -> list[EntryPoint]:
    """The entry points of ``group`` of every installed distribution, in a stable order."""
    found = entry_points(group=group)
    return sorted(found, key=lambda e: (e.dist.name if e.dist else "", e.name, e.value))


def load_plugins(group: str) -> None:
    """Import every module the installed packages name in ``group``, once per process.

    Called by the registries on their first look-up. A look-up made while the group
    loads (a plugin looking its registry up) sees what is registered so far; an error
    is raised again by every later look-up, so no caller goes on without the plugin."""
    if _STATE.get(group) == "loaded":  # every look-up comes here: the quick way first
        return
    with _LOCK:
        state = _STATE.get(group)
        if isinstance(state, PluginError):
            raise PluginError(str(state))
        if state is not None:
            return
        _STATE[group] = "loading"
        try:
            for entry in installed(group):
                load_entry(entry)
        except PluginError as exc:
            _STATE[group] = exc
            raise
        except BaseException:  # Ctrl-C while loading: the next look-up loads again
            del _STATE[group]
            raise
        _STATE[group] = "loaded"
