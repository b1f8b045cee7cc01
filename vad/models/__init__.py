"""One seam for every model: ``provider/model`` names resolved here, called via litellm."""

from vad.models.client import ModelClient, Reply, SamplingParams
from vad.models.registry import ALIASES, ResolvedModel, check_credentials, resolve_model

__all__ = [
    "ALIASES",
    "ModelClient",
    "Reply",
    "ResolvedModel",
    "SamplingParams",
    "check_credentials",
    "resolve_model",
]
