"""Drawing languages: one :class:`Language` per module of this package, registered by name.

Every module here that does not start with an underscore is a language and is imported
once, so adding a language is a module here plus its renderer in ``renderers/``.
Installed packages add theirs through the entry point group ``vad.languages``
(vad/plugins.py), loaded on the first look-up; a plugin's Language names its renderer
file (``renderer``) and brings its prompt templates (``prompts``).
"""

from __future__ import annotations

import importlib
import pkgutil

from vad.languages.base import (
    PROBES,
    Language,
    Prim,
    aliases,
    all_languages,
    canonical,
    fill_probe,
    get_language,
    language_names,
    reference_program,
    register_language,
    unregister_language,
)


def _import_all() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


_import_all()

__all__ = [
    "PROBES",
    "Language",
    "Prim",
    "aliases",
    "all_languages",
    "canonical",
    "fill_probe",
    "get_language",
    "language_names",
    "reference_program",
    "register_language",
    "unregister_language",
]
