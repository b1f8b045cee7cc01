"""``local/<model>``: llama.cpp's llama-server, built from pinned sources (`vad engine
build`, vad/models/engine.py), serving the GGUF models that ship in PyPI packages and any
GGUF file (vad/models/local.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from vad.errors import ModelConfigError
from vad.models.engines import Engine, Served, Serving, register_engine


@register_engine("local")
class LlamaCpp(Engine):
    also = "any GGUF file, served the same way: local/PATH.gguf"

    @property
    def default_slots(self) -> int:  # type: ignore[override]
        from vad.models.local import DEFAULT_SLOTS

        return DEFAULT_SLOTS

    def resolve(self, name: str, model_id: str) -> tuple[str, str, tuple[str, ...]]:
        from vad.models.local import EMBEDDED

        if model_id in EMBEDDED:
            return model_id, model_id, EMBEDDED[model_id].styles
        if model_id.endswith(".gguf"):
            path = Path(model_id).expanduser()
            if not path.is_file():
                raise ModelConfigError(f"model {name!r}: GGUF file {path} does not exist")
            return str(path.resolve()), str(path.resolve()), ("chat", "completion")
        raise ModelConfigError(
            f"unknown local model {model_id!r}: choose from "
            f"{', '.join('local/' + k for k in EMBEDDED)} or give local/PATH.gguf"
        )

    def serve(
        self, local: str, alias: str, how: Serving
    ) -> contextlib.AbstractContextManager[Served]:
        from vad.models.local import serve

        kwargs: dict[str, Any] = {"say": how.say} if how.say is not None else {}
        return serve(local, alias, how.slots, how.log, threads=how.threads, **kwargs)

    def check(self) -> None:
        from vad.models.local import engine_threads

        engine_threads()  # a bad $VAD_ENGINE_THREADS: one line now, not at the engine

    def models(self) -> dict[str, str]:
        from vad.models.local import EMBEDDED

        return {key: model.description for key, model in EMBEDDED.items()}

    def weights(self, local: str) -> dict[str, Any]:
        from vad.models.local import EMBEDDED

        if local in EMBEDDED:
            return {"weights_sha256": EMBEDDED[local].sha256,
                    "weights_packages": list(EMBEDDED[local].packages)}  # fmt: skip
        return {"weights_path": local}

    def unready(self) -> tuple[str, str] | None:
        from vad.models.engine import find_engine

        if find_engine() is None:
            return "not tried: the engine is not built", "vad engine build"
        return None
