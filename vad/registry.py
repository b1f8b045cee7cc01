"""Extension by one file and a name: a small registry of classes, used by tasks and renderers.

A registry given an entry point group (``plugins``) also holds what installed packages
register there (vad/plugins.py): they are imported on its first look-up. A name is
registered once: a second class under it is an error, never a silent replacement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from vad.errors import SpecError
from vad.plugins import GROUPS, NameTaken, load_plugins

T = TypeVar("T")


class Registry(Generic[T]):
    """Classes registered under a name with ``@registry.register("name")``."""

    def __init__(self, unknown: str, plugins: str = "") -> None:
        self._classes: dict[str, type[T]] = {}
        self._unknown = unknown  # message with {name} and {choices}
        self._plugins = plugins  # the entry point group of installed additions ("": none)

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorate(cls: type[T]) -> type[T]:
            owner = self._classes.get(name)
            if owner is not None and owner is not cls:
                where = f"{owner.__module__}.{getattr(owner, '__qualname__', repr(owner))}"
                raise NameTaken(GROUPS.get(self._plugins, "registered"), name, where)
            cls.name = name  # type: ignore[attr-defined]
            self._classes[name] = cls
            return cls

        return decorate

    def _discover(self) -> None:
        if self._plugins:
            load_plugins(self._plugins)

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._classes)

    def all(self) -> dict[str, type[T]]:
        self._discover()
        return dict(self._classes)

    def get(self, name: str) -> type[T]:
        self._discover()
        if name not in self._classes:
            raise SpecError(self._unknown.format(name=repr(name), choices=", ".join(self.names())))
        return self._classes[name]
