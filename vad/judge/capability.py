"""Whether a judge takes images, decided before any request is sent.

A text-only model shown an image either fails (a wasted, maybe billed, request per
drawing) or, worse, answers anyway from the text alone: judgements that look real. So
a judge is refused unless it is known to see:

- an embedded model (``local/...``): text-only, always refused;
- a model at a user-given ``--api-base``: the server is asked. llama.cpp's ``GET
  /props`` says ``modalities.vision``; an entry of ``GET {api_base}/models`` may list
  its capabilities (Ollama: ``capabilities: [..., "vision"]``; others: input
  modalities). A server that cannot tell is *not* looked up in litellm's map by the
  model's name: what a server serves under a name is not what the name means
  elsewhere (``openai/gpt-4o`` at a text-only server), so it cannot be told;
- a model without ``--api-base`` that litellm's map knows: ``litellm.supports_vision``;
- otherwise it cannot be told, and the judge is refused unless the user asserts it
  sees (``--judge-sees-images``). The assertion settles only what cannot be told: a
  server or map that says "no vision" is believed.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from vad.errors import ModelConfigError
from vad.models import ResolvedModel
from vad.models.registry import api_key_for

ASSERT_FLAG = "--judge-sees-images"
UNREACHABLE = "unreachable: "  # ask_server's "how" when nothing answered
PROBE_TIMEOUT = 5.0


def check_sees_images(model: ResolvedModel, asserted: bool = False) -> str:
    """How it is known that ``model`` takes images (a phrase for the log); raises
    :class:`ModelConfigError` (one line: the model and the fix) when it does not, or
    when that cannot be told and ``asserted`` is False."""
    if model.is_local:
        raise ModelConfigError(
            f"judge {model.name}: embedded models are text-only and cannot see the drawings; "
            "choose a vision model (e.g. openai/gpt-4o), or a vision model's server with "
            "--api-base"
        )
    if model.api_base:  # the server's word, or none: never the map's on its name
        verdict, how = ask_server(model)
        if how.startswith(UNREACHABLE):
            raise ModelConfigError(
                f"judge {model.name}: nothing answers at {model.api_base} "
                f"({how.removeprefix(UNREACHABLE)}): check that the server runs and that the "
                "URL is right"
            )
    else:
        verdict, how = _litellm_says(model)
    if verdict is True:
        return how
    if verdict is False:
        raise ModelConfigError(
            f"judge {model.name}: {how} says it does not take images; choose a vision model "
            "(or, for a server, start it with its vision projector, e.g. llama.cpp --mmproj)"
        )
    if asserted:
        return f"asserted by {ASSERT_FLAG}"
    who = f"the server at {model.api_base} does not say" if model.api_base else (
        "litellm's model map does not say")  # fmt: skip
    raise ModelConfigError(
        f"judge {model.name}: cannot tell whether it takes images ({who}); if it does, "
        f"pass {ASSERT_FLAG}"
    )


def ask_server(model: ResolvedModel) -> tuple[bool | None, str]:
    """What the server at ``model.api_base`` says of images: True, False, or None (it
    does not say), with where it said it (:data:`UNREACHABLE` and why, when nothing
    answered at all)."""
    base = str(model.api_base).rstrip("/")
    root = base.removesuffix("/v1")
    props = _get_json(f"{root}/props", model)
    if isinstance(props, dict) and isinstance(props.get("modalities"), dict):
        vision = props["modalities"].get("vision")
        if isinstance(vision, bool):
            return vision, f"the server's {root}/props"
    listing = _get_json(f"{base}/models", model)
    if isinstance(props, Unreachable) and isinstance(listing, Unreachable):
        return None, UNREACHABLE + listing.why
    entries = listing.get("data") if isinstance(listing, dict) else None
    names = {model.model_id, model.served_name}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("id") in names:
            said = _entry_vision(entry)
            if said is not None:
                return said, f"the server's {base}/models"
    return None, ""


def _entry_vision(entry: dict[str, Any]) -> bool | None:
    """What one ``/models`` entry says of images, if anything."""
    for name in ("capabilities", "input_modalities", "modalities"):
        value = entry.get(name)
        if isinstance(value, dict):  # {"vision": true} or {"input": ["text", "image"]}
            if isinstance(value.get("vision"), bool):
                return bool(value["vision"])
            value = value.get("input")
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return bool({"vision", "image", "images"} & {v.lower() for v in value})
    return None


@dataclass(frozen=True)
class Unreachable:
    """No HTTP answer at all (refused, no route, timed out): why."""

    why: str


def _get_json(url: str, model: ResolvedModel) -> Any:
    """``GET url`` as JSON; None when the server answered but not with JSON (it cannot
    tell); :class:`Unreachable` when nothing answered."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    key = api_key_for(model)
    if key and key != "no-key":
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:
            return json.loads(response.read(1_000_000))
    except urllib.error.HTTPError:
        return None  # it answered: a status, not a say
    except urllib.error.URLError as exc:
        return Unreachable(str(exc.reason)[:200])
    except TimeoutError:
        return Unreachable(f"no answer in {PROBE_TIMEOUT:g} s")
    except (OSError, ValueError):
        return None


def _litellm_says(model: ResolvedModel) -> tuple[bool | None, str]:
    """litellm's model map on ``model``: True/False when it knows the model, else None."""
    from vad.models.litellm_setup import quiet_litellm

    litellm = quiet_litellm()
    for name in (model.name, model.model_id):
        try:
            litellm.get_model_info(name)
        except Exception:
            continue  # not in the map under this name
        try:
            return bool(litellm.supports_vision(model=name)), "litellm's model map"
        except Exception:
            return None, ""
    return None, ""
