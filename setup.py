"""Build hook: a wheel carries prompts/ and renderers/ as vad/_data/.

The two folders stay at the top of the repository; ``vad._paths.project_dir`` reads
them from the checkout (``pip install -e .``) and from ``vad/_data/`` in an installed
wheel. Everything else about the package is in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DATA_FOLDERS = ("prompts", "renderers")  # keep in step with MANIFEST.in (the sdist)
SKIPPED = {"__pycache__"}


def data_files() -> list[tuple[Path, Path]]:
    """(source, path inside the package) for every file of the data folders."""
    found = []
    for folder in DATA_FOLDERS:
        for src in sorted((HERE / folder).rglob("*")):
            rel = src.relative_to(HERE)
            if src.is_file() and not SKIPPED & set(rel.parts) and src.suffix != ".pyc":
                found.append((src, Path("vad", "_data", rel)))
    return found


class BuildPyWithData(build_py):
    """build_py that also copies the data folders into the build (not for editable installs,
    which read them from the checkout)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for src, rel in data_files():
            dest = Path(self.build_lib, rel)
            self.mkpath(str(dest.parent))
            self.copy_file(str(src), str(dest))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [str(Path(self.build_lib, rel)) for _, rel in data_files()]


setup(cmdclass={"build_py": BuildPyWithData})
