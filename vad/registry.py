"""Extension by one file and a name: a small registry of classes, used by tasks and renderers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from vad.errors import SpecError

T = TypeVar("T")


class Registry(Generic[T]):
    """Classes registered under a name with ``@registry.register("name")``."""

    def __init__(self, unknown: str) -> None:
        self._classes: dict[str, type[T]] = {}
        self._unknown = unknown  # message with {name} and {choices}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorate(cls: type[T]) -> type[T]:
            cls.name = name  # type: ignore[attr-defined]
            self._classes[name] = cls
            return cls

        return decorate

    def names(self) -> list[str]:
        return sorted(self._classes)

    def all(self) -> dict[str, type[T]]:
        return dict(self._classes)

    def get(self, name: str) -> type[T]:
        if name not in self._classes:
            raise SpecError(self._unknown.format(name=repr(name), choices=", ".join(self.names())))
        return self._classes[name]
