"""vad: a vision checkup for text-only language models."""

__version__ = "0.1.0"
