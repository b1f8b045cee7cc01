"""Settings declared once: a command's settings are one pydantic model, and from it come
the spec file's fields, the flags, the defaults, the help text, the JSON Schema (for
editors to complete and check spec files) and what the settings hash takes.

Each field is declared with :func:`setting`::

    class GenerateSpec(Settings):
        n: int = setting(100, "--n", "images to keep", ge=1, le=10**9, hashed=False)

Values are checked by :class:`vad.fields.FieldCheck` from the field's type and bounds, so
that every message keeps the project's form, naming the file's field or the flag:
``gen.yaml: field 'size' = 4: must be an integer between 8 and 4096``.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

from vad.errors import SpecError
from vad.fields import FieldCheck

Check = Callable[[FieldCheck, str, Any], Any]  # a field's own check (languages, I/N, ...)


class Meta:
    """What a field says beyond its type: its flag, whether it is hashed, its own check.
    Given to pydantic as ``json_schema_extra``, it writes flag and hashing into the
    JSON Schema."""

    def __init__(self, flag: str | None, hashed: bool, check: Check | None,
                 metavar: str | None, shown_default: str | None,
                 schema: dict[str, Any] | None = None, split: bool = True,
                 flag_type: type | None = None) -> None:  # fmt: skip
        self.flag, self.hashed, self.check = flag, hashed, check
        self.metavar, self.shown_default, self.schema = metavar, shown_default, schema
        self.split = split  # a repeated flag's values are also split at commas
        self.flag_type = flag_type  # what the flag's text is read as, where the type says less

    def __call__(self, schema: dict[str, Any]) -> None:
        if self.schema is not None:  # a value spelled otherwise in files ("0/4")
            for key in ("type", "items", "anyOf", "maxItems", "minItems", "prefixItems"):
                schema.pop(key, None)
            schema.update(self.schema)
        _standard_bounds(schema)
        if (
            schema.get("type") == "array"
            and self.split
            and schema.get("items") == {"type": "string"}
        ):  # a list, or one comma-separated string, as files may give it
            items = schema.pop("items")
            schema.pop("type")
            listed = {"type": "array", "items": items, "minItems": 1, "uniqueItems": True}
            schema["anyOf"] = [listed, {"type": "string", "minLength": 1}]
        if self.flag:
            schema["flag"] = self.flag
        if not self.hashed:
            schema["hashed"] = False


def _standard_bounds(schema: Any) -> None:
    """Where a type is a union, pydantic leaves the bounds under its own names (ge, le,
    gt): JSON Schema's are minimum, maximum, exclusiveMinimum."""
    if isinstance(schema, dict):
        for ours, standard in (("ge", "minimum"), ("le", "maximum"), ("gt", "exclusiveMinimum")):
            if ours in schema:
                schema[standard] = schema.pop(ours)
        for value in schema.values():
            _standard_bounds(value)
    elif isinstance(schema, list):
        for item in schema:
            _standard_bounds(item)


def setting(
    default: Any,
    flag: str | None,
    help: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    hashed: bool = True,
    check: Check | None = None,
    metavar: str | None = None,
    shown_default: str | None = None,
    schema: dict[str, Any] | None = None,
    split: bool = True,
    flag_type: type | None = None,
) -> Any:
    """One setting: its default, its flag (None: spec file only), its help, its bounds,
    whether it changes what is made (``hashed``) and, beyond its type, its own check
    (and, for a value files spell otherwise than its type, its JSON Schema)."""
    meta = Meta(flag, hashed, check, metavar, shown_default, schema, split, flag_type)
    return Field(default, description=help, ge=ge, gt=gt, le=le, json_schema_extra=meta)


def meta(info: FieldInfo) -> Meta:
    extra = info.json_schema_extra
    return extra if isinstance(extra, Meta) else Meta(None, True, None, None, None)


def _bounds(info: FieldInfo) -> dict[str, Any]:
    """The field's ge / gt / le, from the constraints pydantic keeps in its metadata."""
    found: dict[str, Any] = {}
    for item in info.metadata:
        for name in ("ge", "gt", "le"):
            if getattr(item, name, None) is not None:
                found[name] = getattr(item, name)
    return found


def _kind(annotation: Any) -> str:
    """int, number, names, bool, str or mapping, from a field's type (None allowed)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        if set(args) == {int, float}:
            return "number"
        return _kind(args[0]) if len(args) == 1 else "str"
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "number"
    if origin is tuple:
        return "names" if args and args[0] is str else "pair"
    if origin is dict or annotation is dict:
        return "mapping"
    return "str"


class Settings(BaseModel):
    """Base of a command's settings (frozen; unknown fields refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[str] = "settings"  # "generation spec", for messages

    # -- checking --------------------------------------------------------------------
    @classmethod
    def check_field(cls, check: FieldCheck, name: str, value: Any) -> Any:
        """One value, checked by its declaration; the message names field or flag."""
        info = cls.model_fields[name]
        own = meta(info).check
        if own is not None:
            return own(check, name, value)
        kind, bounds = _kind(info.annotation), _bounds(info)
        if value is None and type(None) in typing.get_args(info.annotation):
            return None
        if kind == "int":
            high = bounds.get("le")
            return check.integer(name, value, int(bounds.get("ge", 0)),
                                 None if high is None else int(high))  # fmt: skip
        if kind == "number":
            if "gt" in bounds:
                return check.number(name, value, bounds["gt"], bounds.get("le"), above=True)
            return check.number(name, value, bounds.get("ge", 0), bounds.get("le"))
        if kind == "names":
            return check.names(name, value, nonempty=True)
        if kind == "bool":
            if not isinstance(value, bool):
                raise check.bad(name, value, "must be true or false")
            return value
        if kind == "mapping":
            return check.mapping(name, value, None)
        if not isinstance(value, str) or not value.strip():
            raise check.bad(name, value, "must be a non-empty string")
        return value

    @classmethod
    def checked(cls, data: dict[str, Any], source: str) -> dict[str, Any]:
        """``data`` (a spec file's mapping) with every value checked; unknown keys refused."""
        check = FieldCheck(source)
        if not isinstance(data, dict):
            raise SpecError(f"{source}: a {cls.kind} is a mapping of fields")
        unknown = [k for k in data if k not in cls.model_fields]
        if unknown:
            flags = {cls.flag_of(n): n for n in cls.model_fields if cls.flag_of(n)}
            field = flags.get("--" + str(unknown[0]).replace("_", "-"))
            hint = f"; the field of --{unknown[0]} is '{field}'" if field else ""
            valid = ", ".join(cls.model_fields)
            raise check.bad(str(unknown[0]), data[unknown[0]],
                            f"unknown field{hint}; valid: {valid}")  # fmt: skip
        return {k: cls.check_field(check, k, v) for k, v in data.items()}

    # -- flags -------------------------------------------------------------------------
    @classmethod
    def flag_of(cls, name: str) -> str | None:
        return meta(cls.model_fields[name]).flag

    @classmethod
    def add_flags(cls, parser: argparse.ArgumentParser, skip: tuple[str, ...] = (),
                  helps: dict[str, str] | None = None) -> None:  # fmt: skip
        """One flag per field that has one: its type, help and default from the field
        (``helps``: a command's own help for some, such as the languages installed now)."""
        for name, info in cls.model_fields.items():
            flag = cls.flag_of(name)
            if flag is None or name in skip:
                continue
            m = meta(info)
            kind = _kind(info.annotation)
            shown = m.shown_default
            default = info.default
            if shown is None:
                shown = (",".join(map(str, default)) if isinstance(default, tuple)
                         else str(default))  # fmt: skip
            help_text = (helps or {}).get(name) or str(info.description or "")
            if shown and shown not in ("None", "False", ""):
                help_text += f" (default {shown})"
            kwargs: dict[str, Any] = {"dest": name, "help": help_text, "default": None}
            if kind == "bool":
                kwargs["action"] = "store_true"
            elif kind == "names":
                kwargs.update(action="append", metavar=m.metavar or name.upper())
            else:
                if m.flag_type is not None:
                    kwargs["type"] = m.flag_type
                elif kind in ("int", "number"):
                    kwargs["type"] = int if kind == "int" else float
                kwargs["metavar"] = m.metavar or name.upper()
            parser.add_argument(flag, **kwargs)

    @classmethod
    def from_flags(cls, args: argparse.Namespace) -> dict[str, Any]:
        """The flags that were given, checked and named as flags (comma lists split)."""
        check = FieldCheck("command line")
        out = {}
        for name in cls.model_fields:
            flag = cls.flag_of(name)
            value = getattr(args, name, None) if flag else None
            if value is None or value is False:
                continue
            if isinstance(value, list) and meta(cls.model_fields[name]).split:
                value = [v.strip() for item in value for v in str(item).split(",") if v.strip()]
            try:
                out[name] = cls.check_field(check, name, value)
            except SpecError as exc:  # name the flag, not the field
                raise SpecError(str(exc).replace(check.name(name), flag, 1)) from None
        return out

    # -- what it makes -----------------------------------------------------------------
    @classmethod
    def unhashed(cls) -> set[str]:
        return {name for name, info in cls.model_fields.items() if not meta(info).hashed}

    def hashed_fields(self) -> dict[str, Any]:
        """The fields that change what is made, as plain data."""
        skip = self.unhashed()
        return {k: v for k, v in self.model_dump().items() if k not in skip}

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """The JSON Schema of the spec file (flags noted as ``flag``)."""
        return cls.model_json_schema()


def resolved_path(check: FieldCheck, name: str, value: Any) -> str:
    """A path setting: a non-empty string, made absolute."""
    if not isinstance(value, str) or not value.strip():
        raise check.bad(name, value, "must be a non-empty string")
    return str(Path(value).resolve())
