"""Model names: ``provider/model``, aliases in one place, checks before any work starts."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from vad.errors import ModelConfigError

# Short names users may type; the value is the canonical provider/model name. Each hosted
# one is a model litellm's bundled map prices (a test holds it to that): an alias whose
# model the map does not know could not be priced under --max-cost, nor told to see.
ALIASES: dict[str, str] = {
    "qwen-coder": "local/qwen2.5-coder-0.5b",
    "gemma": "local/gemma-3-270m",
    "gpt-4o": "openai/gpt-4o",
    "gpt-4o-mini": "openai/gpt-4o-mini",
    "gpt-4.1": "openai/gpt-4.1",
    "claude-sonnet": "anthropic/claude-sonnet-4-5",
    "claude-haiku": "anthropic/claude-haiku-4-5",
    "gemini-flash": "gemini/gemini-2.5-flash",
    "gemini-pro": "gemini/gemini-2.5-pro",
}

# Providers that speak the OpenAI wire format at a user-given api_base.
OPENAI_COMPATIBLE = {"openai", "hosted_vllm", "ollama", "ollama_chat", "lm_studio", "openai_like"}


@dataclass(frozen=True)
class ResolvedModel:
    """Everything needed to call one model."""

    name: str  # canonical name, as recorded in samples
    provider: str
    model_id: str  # the part after the provider
    api_base: str | None = None
    styles: tuple[str, ...] = ("chat", "completion")
    local: str | None = None  # what its engine serves (a key or a path): None for an API

    @property
    def is_local(self) -> bool:
        """Served by an engine vad starts itself (free, no key, no endpoint of its own:
        vad/models/engines)."""
        return self.local is not None

    @property
    def default_style(self) -> str:
        return self.styles[0]

    def litellm_name(self, style: str) -> str:
        """The model string litellm routes on, for chat or text completion."""
        if self.is_local or (self.api_base and self.provider in OPENAI_COMPATIBLE):
            prefix = "openai" if style == "chat" else "text-completion-openai"
            return f"{prefix}/{self.served_name}"
        return f"{self.provider}/{self.model_id}"

    @property
    def served_name(self) -> str:
        return Path(self.model_id).stem if self.model_id.endswith(".gguf") else self.model_id

    def with_api_base(self, api_base: str) -> ResolvedModel:
        return replace(self, api_base=api_base)


def resolve_model(name: str, api_base: str | None = None) -> ResolvedModel:
    """Turn a user-given name into a :class:`ResolvedModel`, or say what is wrong."""
    from vad.models.engines import engine_for

    name = ALIASES.get(name, name).strip()
    if "/" not in name:
        raise ModelConfigError(
            f"model {name!r}: names are provider/model (e.g. openai/gpt-4o, "
            f"local/qwen2.5-coder-0.5b) or an alias: {', '.join(sorted(ALIASES))}"
        )
    provider, model_id = name.split("/", 1)
    if not provider.strip() or not model_id.strip():
        raise ModelConfigError(
            f"model {name!r}: names are provider/model, both parts given (e.g. openai/gpt-4o)"
        )
    engine = engine_for(provider)
    if engine is not None:
        model_id, local, styles = engine.resolve(name, model_id)
        return ResolvedModel(name, provider, model_id, styles=styles, local=local)
    if api_base and provider in OPENAI_COMPATIBLE:  # no need to ask litellm (slow to import)
        return ResolvedModel(name, provider, model_id, api_base=api_base)
    if provider not in _litellm_providers():
        common = "openai, anthropic, gemini, mistral, groq, together_ai, openrouter, ollama"
        raise ModelConfigError(
            f"unknown provider {provider!r} in {name!r}: use one litellm knows ({common}, ...), "
            "or openai/MODEL with --api-base for any OpenAI-compatible server"
        )
    return ResolvedModel(name, provider, model_id, api_base=api_base)


def _litellm_providers() -> set[str]:
    from vad.models.litellm_setup import quiet_litellm

    litellm = quiet_litellm()  # heavy: only when a remote model is named

    return {str(getattr(p, "value", p)) for p in litellm.provider_list}


def check_credentials(model: ResolvedModel) -> None:
    """Fail before any work if the model's API key is not in the environment."""
    if model.is_local:
        return
    if model.api_base and model.provider in OPENAI_COMPATIBLE:
        return  # self-hosted endpoints often need no key
    from vad.models.litellm_setup import quiet_litellm

    litellm = quiet_litellm()

    report = litellm.validate_environment(model.litellm_name(model.default_style))
    missing = [k for k in report.get("missing_keys", []) if not os.environ.get(k)]
    if missing:
        raise ModelConfigError(
            f"model {model.name}: {', '.join(missing)} is not set. Export it "
            f"(export {missing[0]}=...) or use a local/ model, which needs no key"
        )


def api_key_for(model: ResolvedModel) -> str | None:
    """The key to send: None lets litellm read the environment itself."""
    if model.is_local:
        return "no-key"
    if model.api_base and model.provider in OPENAI_COMPATIBLE:
        return os.environ.get("OPENAI_API_KEY") or "no-key"
    return None
