"""The litellm seam against a real HTTP server on loopback."""

from __future__ import annotations

import pytest
from openai_server import FakeOpenAI

from vad.errors import ModelCallError, ModelConfigError
from vad.models import ModelClient, SamplingParams, check_credentials, resolve_model
from vad.models.client import RateLimiter, RetryPolicy
from vad.prompts import load_prompts

FAST = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05, timeout=10)


def _client(server: FakeOpenAI, retry: RetryPolicy = FAST) -> ModelClient:
    model = resolve_model("openai/fake-model", api_base=server.api_base)
    return ModelClient(model, RateLimiter(2), retry)


def _prompt(style: str = "chat", caption: str = "a green circle"):
    return load_prompts("draw").render(
        "svg", style, {"caption": caption, "width": 224, "height": 224}
    )


def test_chat_request_reaches_the_server_with_every_parameter(fake_openai: FakeOpenAI) -> None:
    reply = _client(fake_openai).complete(_prompt(), SamplingParams(0.3, 77, seed=5))
    assert 'fill="green"' in reply.text
    assert (reply.prompt_tokens, reply.completion_tokens, reply.finish_reason) == (11, 22, "stop")
    sent = fake_openai.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["model"] == "fake-model"
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 77 and sent["seed"] == 5
    assert sent["messages"][0]["role"] == "system"
    assert "a green circle" in sent["messages"][1]["content"]


def test_completion_request_goes_to_the_completions_endpoint(fake_openai: FakeOpenAI) -> None:
    prompt = _prompt("completion")
    reply = _client(fake_openai).complete(prompt, SamplingParams(0.0, 50))
    sent = fake_openai.requests[-1]
    assert sent["path"] == "/v1/completions"
    assert sent["prompt"] == prompt.prompt and sent["stop"] == ["</svg>", "<!-- Draw:"]
    assert "<rect" in reply.text


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_transient_errors_then_succeeds(status: int) -> None:
    with FakeOpenAI(fail_first=2, fail_status=status) as server:
        reply = _client(server).complete(_prompt(), SamplingParams())
        assert reply.attempts == 3
        assert len(server.requests) == 3
        assert "<svg" in reply.text


def test_gives_up_after_max_retries() -> None:
    with FakeOpenAI(fail_first=100, fail_status=429) as server:
        with pytest.raises(ModelCallError, match="RateLimitError"):
            _client(server).complete(_prompt(), SamplingParams())
        assert len(server.requests) == FAST.max_retries + 1


def test_a_huge_reply_is_refused_and_not_retried() -> None:
    with FakeOpenAI(broken="huge") as server:
        with pytest.raises(ModelCallError, match=r"3,000,\d+ characters, over the cap"):
            _client(server).complete(_prompt(), SamplingParams())
        assert len(server.requests) == 1


def test_client_errors_are_not_retried() -> None:
    with FakeOpenAI(fail_first=100, fail_status=400) as server:
        with pytest.raises(ModelCallError):
            _client(server).complete(_prompt(), SamplingParams())
        assert len(server.requests) == 1


def test_rejected_key_is_a_config_error() -> None:
    with (
        FakeOpenAI(fail_first=1, fail_status=401) as server,
        pytest.raises(ModelConfigError, match="rejected the API key"),
    ):
        _client(server).complete(_prompt(), SamplingParams())


def test_names_aliases_and_unknowns() -> None:
    assert resolve_model("qwen-coder").name == "local/qwen2.5-coder-0.5b"
    assert resolve_model("gemma").styles == ("completion",)
    assert resolve_model("anthropic/claude-x").litellm_name("chat") == "anthropic/claude-x"
    local = resolve_model("openai/m", api_base="http://127.0.0.1:1/v1")
    assert local.litellm_name("completion") == "text-completion-openai/m"
    with pytest.raises(ModelConfigError, match="names are provider/model"):
        resolve_model("gpt5")
    with pytest.raises(ModelConfigError, match="unknown provider 'acme'"):
        resolve_model("acme/model-1")
    with pytest.raises(ModelConfigError, match="unknown local model"):
        resolve_model("local/llama-70b")
    with pytest.raises(ModelConfigError, match="does not exist"):
        resolve_model("local//nowhere/model.gguf")


def test_missing_key_is_reported_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ModelConfigError, match="ANTHROPIC_API_KEY is not set"):
        check_credentials(resolve_model("anthropic/claude-3-5-haiku-latest"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    check_credentials(resolve_model("anthropic/claude-3-5-haiku-latest"))
    check_credentials(resolve_model("local/qwen2.5-coder-0.5b"))
    check_credentials(resolve_model("openai/x", api_base="http://127.0.0.1:9/v1"))


def test_every_hosted_alias_is_a_model_litellms_map_prices_and_knows_sees() -> None:
    """An alias litellm's bundled map does not know could not be priced under --max-cost
    nor told to take images: each one resolves to a mapped model."""
    from vad.generate.budget import prices
    from vad.judge.capability import check_sees_images
    from vad.models import ALIASES

    hosted = [name for name, target in ALIASES.items() if not target.startswith("local/")]
    assert len(hosted) >= 7
    for alias in hosted:
        model = resolve_model(alias)
        price_in, price_out = prices(model)
        assert price_in > 0 and price_out > 0, alias
        assert "litellm" in check_sees_images(model), alias  # the map says it sees


def test_base_model_refuses_chat_prompts(fake_openai: FakeOpenAI) -> None:
    model = resolve_model("gemma").with_api_base(fake_openai.api_base)
    with pytest.raises(ModelConfigError, match="does not support chat"):
        ModelClient(model, RateLimiter(1), FAST).complete(_prompt("chat"), SamplingParams())
    assert fake_openai.requests == []


def test_a_dead_local_server_is_not_retried() -> None:
    """The guard of a server vad started turns a closed port into one clear error."""
    import socket

    from vad.errors import EngineError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    model = resolve_model("openai/fake", f"http://127.0.0.1:{port}/v1")
    checks = []

    def guard() -> None:
        checks.append(1)
        raise EngineError("local/x: the llama.cpp engine exited with signal SIGSEGV")

    client = ModelClient(model, RateLimiter(1), RetryPolicy(max_retries=6), guard=guard)
    with pytest.raises(EngineError, match="SIGSEGV"):
        client.complete(_prompt(), SamplingParams())
    assert client.calls == 1 and checks == [1]
    # Without a guard the same failure is retried, then reported as a failed call.
    client = ModelClient(model, RateLimiter(1), RetryPolicy(max_retries=2, base_delay=0.01))
    with pytest.raises(ModelCallError, match="Connection error"):
        client.complete(_prompt(), SamplingParams())
    assert client.calls == 3
