"""Text files people write (specs): UTF-8, with or without a byte-order mark. Anything
else is refused in one line that says what the file looks like and where it fails; a
spec is a YAML mapping, and a file that is a folder, empty or not a mapping is named."""

from __future__ import annotations

import codecs
from pathlib import Path

import yaml

from vad.errors import SpecError

_OTHER_BOMS = (  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def read_text(path: Path, what: str) -> str:
    """The text of ``path``; ``what`` names the file in messages ("run spec")."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise SpecError(f"{what} {path} is a directory: give the path of a YAML file") from None
    except OSError as exc:
        raise SpecError(f"cannot read {what} {path} ({exc.strerror}): check it") from None
    for bom, name in _OTHER_BOMS:
        if data.startswith(bom):
            raise SpecError(
                f"{what} {path} starts with a {name} byte-order mark (bytes "
                f"{bom.hex(' ')}): save it as UTF-8"
            )
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        line = data[:offset].count(b"\n") + 1
        raise SpecError(
            f"{what} {path} is not UTF-8 text: byte {offset} (line {line}) is "
            f"0x{data[offset]:02x}; save it as UTF-8"
        ) from None
    if "\x00" in text:
        raise SpecError(f"{what} {path} holds NUL bytes (UTF-16 text?): save it as UTF-8")
    return text


class _UniqueKeys(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (the last would win
    in silence, and a setting given twice is a setting one of them did not mean)."""


def _mapping(loader: _UniqueKeys, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[object, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, str | int | float | bool) and key in seen:
            first = seen[key].start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} given twice (first on line {first})",
                key_node.start_mark,
            )  # fmt: skip
        if isinstance(key, str | int | float | bool):
            seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_mapping(path: str | Path, what: str, holds: str, missing_fix: str = "") -> dict:
    """The YAML mapping in ``path``; ``holds`` says what it maps ("fields (models, ...)"),
    ``missing_fix`` what to do when there is no such file."""
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{what} {path} is a directory: give the path of a YAML file in it")
    if not path.is_file():
        raise SpecError(f"{what} {path} does not exist{missing_fix}")
    try:
        data = yaml.load(read_text(path, what), Loader=_UniqueKeys)  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())[:200]
        raise SpecError(f"{path}{where}: not valid YAML ({problem}): fix it there") from None
    if not isinstance(data, dict) or not data:
        kind = "is empty" if data in (None, {}) else f"holds a {type(data).__name__}"
        raise SpecError(f"{what} {path} {kind}: a {what} is a mapping of {holds}")
    return data
