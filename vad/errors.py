"""Errors a user can act on: each names the problem and the fix."""


class VadError(Exception):
    """Base class for errors shown to the user without a traceback."""


class ConceptFileError(VadError):
    """A row of a concept file is malformed."""

    def __init__(self, path: str, line: int, field: str, problem: str) -> None:
        self.path, self.line, self.field, self.problem = path, line, field, problem
        super().__init__(f"{path}, line {line}, field '{field}': {problem}")


class SpecError(VadError):
    """A run spec (YAML or flags) is invalid."""


class ModelConfigError(VadError):
    """Unknown model/provider, missing API key, or a broken local model."""


class ModelCallError(VadError):
    """A model request failed after all retries."""


class DatasetError(VadError):
    """A training set or image folder is missing, empty or malformed."""


class TrainError(VadError):
    """A training or evaluation configuration cannot run as given."""


class EngineError(VadError):
    """The embedded model engine cannot be built or started, or it died during a run."""


class InstallError(VadError, FileNotFoundError):
    """A folder vad ships (prompts, renderers) is missing: the install is incomplete."""


class ProviderError(ModelConfigError):
    """A model's server kept failing in a way that will not pass (the run stops)."""
