"""Checking spec fields one by one, with messages that name the file's field or the
command line's flag: ``<source>: field 'limit.object' = 3: unknown level; valid: ...``.

Run specs, generation specs and the tasks' option blocks all check with this; it
imports nothing above the languages' registry.
"""

from __future__ import annotations

from typing import Any

from vad.errors import SpecError
from vad.languages import aliases, canonical, language_names

# The flag that sets a field, for messages about the command line.
FLAGS = {"models": "--model", "levels": "--level", "languages": "--lang",
         "concept_files": "--concepts", "width": "--render-size", "height": "--render-size",
         "max_connections": "--max-connections",
         "rate_limits.local.max_connections": "--slots",
         "retry.timeout": "--timeout", "retry.max_retries": "--max-retries"}  # fmt: skip


class FieldCheck:
    """Validates fields one by one; every message reads ``source: field = value: allowed``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def name(self, field_name: str) -> str:
        if self.source == "command line":
            if field_name in FLAGS:
                return FLAGS[field_name]
            if field_name.startswith("rate_limits.") and field_name.endswith(".rpm"):
                return "--rpm"
            top, _, rest = field_name.partition(".")
            flag = FLAGS.get(top, "--" + top.replace("_", "-"))
            return flag + (f" ({rest})" if rest else "")
        return f"field '{field_name}'"

    def bad(self, field_name: str, value: Any, allowed: str) -> SpecError:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        return SpecError(f"{self.source}: {self.name(field_name)} = {shown}: {allowed}")

    def integer(self, field_name: str, value: Any, low: int, high: int | None = None) -> int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        if not ok or (high is not None and value > high):
            span = f"between {low} and {high}" if high is not None else f">= {low}"
            raise self.bad(field_name, value, f"must be an integer {span}")
        return int(value)

    def number(self, field_name: str, value: Any, low: float, high: float | None = None,
               above: bool = False) -> float:  # fmt: skip
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and value == value and (value > low if above else value >= low)
        if not ok or (high is not None and value > high):
            lower = f"> {low:g}" if above else f">= {low:g}"
            span = f"{lower} and <= {high:g}" if high is not None else lower
            raise self.bad(field_name, value, f"must be a number {span}")
        return value  # as given: 0 and 0.0 hash differently in cache keys

    def mapping(self, field_name: str, value: Any, keys: dict[str, Any] | None) -> dict:
        """A mapping whose keys are among ``keys`` (name -> validator), or any str keys."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            allowed = f"keys among {', '.join(keys)}" if keys else "a mapping"
            raise self.bad(field_name, value, f"must be a mapping ({allowed})")
        if keys is not None:
            unknown = [k for k in value if k not in keys]
            if unknown:
                raise self.bad(f"{field_name}.{unknown[0]}", value[unknown[0]],
                               f"unknown key; valid: {', '.join(keys)}")  # fmt: skip
            return {k: keys[k](f"{field_name}.{k}", v) for k, v in value.items()}
        return dict(value)

    def names(self, field_name: str, value: Any, choices: tuple[str, ...] | None = None,
              nonempty: bool = False) -> tuple[str, ...]:  # fmt: skip
        items = as_tuple(value, field_name, self)
        for item in items:
            if not isinstance(item, str) or not item.strip():
                raise self.bad(field_name, item, "each entry must be a non-empty string")
            if choices is not None and item not in choices:
                raise self.bad(field_name, item, f"must be among {', '.join(choices)}")
        if nonempty and not items:
            raise self.bad(field_name, value, "needs at least one entry")
        seen = [item for i, item in enumerate(items) if item in items[:i]]
        if seen:
            raise self.bad(field_name, seen[0], "appears twice")
        return tuple(items)

    def languages(self, field_name: str, value: Any) -> tuple[str, ...]:
        """Registered drawing languages (an alias becomes the language's own name)."""
        names = self.names(field_name, value, nonempty=True)
        found = []
        for name in names:
            if name not in aliases():
                raise self.bad(field_name, name, f"must be among {', '.join(language_names())}")
            found.append(canonical(name))
        return self.names(field_name, found)


def as_tuple(value: Any, key: str, check: FieldCheck) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple):
        return tuple(value)
    raise check.bad(key, value, "must be a list or a comma-separated string")
