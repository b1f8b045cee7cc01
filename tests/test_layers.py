"""The shape of the imports: the layers of pyproject.toml hold, and no module of vad is
part of an import cycle (imports inside functions included; type-only ones not)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def cycles(package: str, path: Path) -> list[list[str]]:
    """The groups of modules of ``package`` that import each other round (Tarjan)."""
    sys.path.insert(0, str(path))
    try:
        graph = grimp.build_graph(package, exclude_type_checking_imports=True, cache_dir=None)
    finally:
        sys.path.remove(str(path))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                other = stack.pop()
                group.append(other)
                if other == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_no_module_of_vad_is_in_an_import_cycle() -> None:
    assert cycles("vad", ROOT) == []


def test_a_cycle_is_found_even_through_an_import_inside_a_function(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "def f():\n    from pkg import a\n",
        "pkg/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n",
    })  # fmt: skip
    assert cycles("pkg", tmp_path) == [["pkg.a", "pkg.b"]]


def test_the_layers_hold() -> None:
    done = subprocess.run([str(LINT), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/top.py": "from pkg import low\n",
        "pkg/low.py": "def f():\n    from pkg import top\n",
        "pyproject.toml": '[tool.importlinter]\nroot_package = "pkg"\n\n'
                          '[[tool.importlinter.contracts]]\nname = "layers"\ntype = "layers"\n'
                          'containers = ["pkg"]\nlayers = ["top", "low"]\n',
    })  # fmt: skip
    done = subprocess.run([str(LINT), "--no-cache"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})  # fmt: skip
    assert done.returncode == 1 and "pkg.low is not allowed to import pkg.top" in done.stdout
