"""The TikZ preamble, dumped once into a pdfTeX format file that every TikZ job loads.

pdflatex spends most of a TikZ job reading the fixed preamble (the standalone class,
TikZ and its libraries). The host dumps that preamble once, with its own code and the
renderer's exact text (``HEAD`` in renderers/tikz.py, read without running the
module), into ``<tex_formats_dir>/<key>/vad-tikz.fmt``. The key covers the pdfTeX
version, the base format it starts from (path, size, time), the preamble and the
build flags, so another TeX Live or another preamble gets a file of its own; and the
build records every file pdfTeX read (its ``-recorder`` list: the class, TikZ, its
libraries, texmf.cnf) and the engine, by size and time, so that a package upgraded
in place (PGF, standalone: Debian rebuilds no base format for them) makes the format
stale, and it is built again. The file
is stored uncompressed: pdfTeX reads formats through zlib, which reads data that is
not gzip as it is, and that halves the time to load it.

A format is built in a temporary folder beside the others and renamed into place,
under a lock so that two processes never build at once; before a pool uses it, its
SHA-256 is checked against the one recorded at build time, and a missing or damaged
format is built again. A format runs TeX code in every job that loads it, so only
this user's own files are trusted: formats are kept in the formats folder when no
other user can change it (nor any folder above it), else in a folder of this user's
own inside it (``user-<uid>``, when the formats folder is shared and sticky), else
nowhere; a folder, format or record that is a link or another user's is not used.
The file is read-only (0444); a jailed worker sees it read-only bound at
:data:`JAIL_PATH`, outside every job folder, and nothing of the cache around it, so
model code can never write it. When no format can be had, jobs compile the whole
preamble as before (said once in the log), never failing for it.

Only the tikz language's ``prepare_host`` (vad/languages/tikz.py) asks for the format,
once per pool that serves TikZ; ``vad doctor`` checks it. (vad/render/texformat.py is
this module under its former name.)
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import functools
import gzip
import hashlib
import json
import logging
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from vad._paths import project_dir, tex_formats_dir

NAME = "vad-tikz"
JAIL_PATH = f"/texformat/{NAME}.fmt"  # where a jailed worker sees it, read-only
SWITCH = "VAD_TIKZ_FORMAT"  # "0": every job compiles the whole preamble
RENDERER_VAR = "VAD_TEX_FORMAT"  # what renderers/tikz.py reads: the format's path
LAYOUT = 2  # the build recipe's version: part of the key
BUILD_ARGS = ("-ini", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error",
              "-recorder", f"-jobname={NAME}", "&pdflatex")  # fmt: skip
SMOKE = (
    "\\begin{document}\n\\begin{tikzpicture}\\draw (0,0) -- (1,1);\\end{tikzpicture}\n"
    "\\end{document}\n"
)
TIMEOUT_S = 300.0

log = logging.getLogger(__name__)
_said: set[str] = set()
_verified: dict[tuple[str, int, int, int], str] = {}  # (path, inode, size, mtime) -> sha256


class FormatError(Exception):
    """The format could not be built or checked (the reason names the step)."""


def enabled() -> bool:
    """Whether TikZ jobs use the format ($VAD_TIKZ_FORMAT is not 0)."""
    return os.environ.get(SWITCH, "1").strip() != "0"


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.warning(message)


def tex_env(home: Path) -> dict[str, str]:
    """The environment pdfTeX runs in on the host: like the jail's, nothing of the user's."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "openin_any": "p", "openout_any": "p", "shell_escape": "f", "MKTEXTFM": "0",
            "MKTEXPK": "0", "MKTEXMF": "0", "MKTEXFMT": "0",
            "TEXMFVAR": str(home / ".texmf-var")}  # fmt: skip


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=tex_env(cwd), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, errors="replace",
                          timeout=TIMEOUT_S, check=False)  # fmt: skip


def _renderer_literals() -> dict[str, str]:
    """The string constants of renderers/tikz.py, read as literals (never imported here),
    parsed once per process.

    Parsed when this module is imported (by the languages' registry, before any thread
    renders): CPython 3.11's ``ast`` keeps one recursion counter per interpreter, so an
    ``ast.parse`` racing another thread's (a pool starting while requests import their
    libraries) can fail with "AST constructor recursion depth mismatch"."""
    global _LITERALS
    with _LITERALS_LOCK:
        if _LITERALS is None:
            source = project_dir("renderers") / "tikz.py"
            found: dict[str, str] = {}
            for node in ast.parse(source.read_text(encoding="utf-8")).body:
                if not isinstance(node, ast.Assign):
                    continue
                try:
                    value = ast.literal_eval(node.value)
                except (ValueError, TypeError):
                    continue  # not a literal
                if isinstance(value, str):
                    found.update({t.id: value for t in node.targets if isinstance(t, ast.Name)})
            _LITERALS = found
        return _LITERALS


def _renderer_literal(name: str) -> str:
    """A string constant of renderers/tikz.py."""
    literals = _renderer_literals()
    if name not in literals:
        source = project_dir("renderers") / "tikz.py"
        raise FormatError(f"{source} defines no {name}: the TikZ renderer is damaged")
    return literals[name]


_LITERALS: dict[str, str] | None = None
_LITERALS_LOCK = threading.Lock()
with contextlib.suppress(OSError, SyntaxError):  # a damaged renderer: said when it is used
    _renderer_literals()


def preamble() -> str:
    """The renderer's preamble (``HEAD`` in renderers/tikz.py)."""
    return _renderer_literal("HEAD")


def allowed_packages() -> list[str]:
    """The packages a TikZ document may load (``PACKAGES`` in renderers/tikz.py)."""
    return sorted(_renderer_literal("_PACKAGE_NAMES").split())


@functools.cache
def tex_identity() -> str | None:
    """pdfTeX's version line and the base format's path, size and time; None without TeX."""
    if not shutil.which("pdftex", path="/usr/bin:/bin"):
        return None
    with tempfile.TemporaryDirectory(prefix="vad-tex-") as tmp:
        version = _run(["pdftex", "--version"], Path(tmp))
        where = _run(["kpsewhich", "-engine=pdftex", "pdflatex.fmt"], Path(tmp))
    base = where.stdout.strip()
    if version.returncode != 0 or where.returncode != 0 or not base:
        raise FormatError("pdftex --version or kpsewhich pdflatex.fmt failed")
    info = os.stat(base)
    return f"{version.stdout.splitlines()[0]} | {base} {info.st_size} {info.st_mtime_ns}"


def format_key(identity: str, head: str) -> str:
    """The cache key: TeX identity, preamble text, build flags and recipe version."""
    blob = json.dumps({"layout": LAYOUT, "tex": identity, "head": head, "args": BUILD_ARGS})
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _engine() -> str:
    return os.path.realpath(shutil.which("pdftex", path="/usr/bin:/bin") or "/usr/bin/pdftex")


def _inputs(recorded: Path, build_dir: Path) -> dict[str, list[int]]:
    """Every file the build read (pdfTeX's -recorder list) and the engine: path ->
    [size, mtime_ns]. Files of the build's own folder are left out."""
    paths = {_engine()}
    for line in recorded.read_text(encoding="utf-8", errors="replace").splitlines():
        name = line.removeprefix("INPUT ")
        if name != line and name.startswith("/") and not name.startswith(f"{build_dir}/"):
            paths.add(name)
    found = {}
    for path in sorted(paths):
        info = os.stat(path)
        found[path] = [info.st_size, info.st_mtime_ns]
    return found


def _unchanged(inputs: object) -> bool:
    """Whether every file recorded at build time is still as it was (size and time)."""
    if not isinstance(inputs, dict) or not inputs:
        return False
    try:
        for path, (size, mtime) in inputs.items():
            info = os.stat(path)
            if (info.st_size, info.st_mtime_ns) != (size, mtime):
                return False
    except (OSError, TypeError, ValueError):
        return False
    return True


def _loads(fmt: Path, folder: Path) -> bool:
    """Whether pdflatex compiles a small TikZ picture with the format ``fmt``."""
    (folder / "smoke.tex").write_text(SMOKE, encoding="utf-8")
    done = _run(["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error",
                 f"-fmt={fmt}", "smoke.tex"], folder)  # fmt: skip
    return done.returncode == 0 and (folder / "smoke.pdf").is_file()


def _safe_folder(info: os.stat_result, uid: int) -> bool:
    """A real folder no other user can change: this user's or root's, and writable by
    no one else unless sticky (where no one else can move or replace what is ours)."""
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid in (uid, 0)
        and (not info.st_mode & 0o022 or bool(info.st_mode & stat.S_ISVTX))
    )


def private_root(root: Path) -> Path:
    """Where this user's formats are kept: ``root`` when no other user can write it,
    else this user's own folder in it (``root`` shared and sticky); every folder above
    must be one no other user can change, as ssh's StrictModes asks. FormatError if
    there is no such place."""
    uid = os.geteuid()
    real = Path(os.path.realpath(root))
    for folder in reversed(real.parents):  # "/" first
        if not _safe_folder(os.lstat(folder), uid):
            raise FormatError(f"{folder} can be changed by other users: no format is kept below it")
    info = os.lstat(real)
    if stat.S_ISDIR(info.st_mode) and info.st_uid == uid and not info.st_mode & 0o022:
        return real
    if not _safe_folder(info, uid):
        raise FormatError(
            f"{real} can be changed by other users: no format is kept there "
            "(set VAD_TEX_FORMATS_DIR to a folder of your own)"
        )
    mine = real / f"user-{uid}"
    with contextlib.suppress(FileExistsError):
        os.mkdir(mine, 0o700)
    info = os.lstat(mine)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid or info.st_mode & 0o077:
        raise FormatError(f"{mine} is not a folder of this user's own: no format is kept there")
    return mine


def _own_file(path: Path) -> os.stat_result | None:
    """lstat of ``path`` if it is a regular file of this user's (no link), else None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() else None


def checked(folder: Path) -> Path | None:
    """The folder's format if it matches the SHA-256 recorded at build time, else None.

    The folder, the format and its record must be this user's own (no link)."""
    fmt = folder / f"{NAME}.fmt"
    try:
        where = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(where.st_mode) or where.st_uid != os.geteuid():
        return None
    info, record = _own_file(fmt), _own_file(folder / "format.json")
    if info is None or record is None:
        return None
    try:
        fd = os.open(folder / "format.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            meta = json.loads(fh.read(1 << 20).decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    if not _unchanged(meta.get("inputs")):  # a file it was dumped from has changed
        return None
    seen = (str(fmt), info.st_ino, info.st_size, info.st_mtime_ns)
    if seen not in _verified:
        _verified[seen] = _sha256(fmt)
    return fmt if _verified[seen] == meta.get("sha256") else None


def build(root: Path, key: str, head: str, identity: str) -> Path:
    """Dump ``head`` into ``root/key/vad-tikz.fmt``: built aside, checked, renamed in."""
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=root))
    try:
        (tmp / f"{NAME}.tex").write_text(head + "\\dump\n", encoding="utf-8")
        done = _run(["pdftex", *BUILD_ARGS, f"{NAME}.tex"], tmp)
        fmt = tmp / f"{NAME}.fmt"
        if done.returncode != 0 or not fmt.is_file():
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("!")]
            raise FormatError(f"pdftex -ini stopped ({done.returncode}): {lines[:1]}")
        inputs = _inputs(tmp / f"{NAME}.fls", tmp)
        packed = fmt.with_suffix(".fmt.gz")
        fmt.rename(packed)
        with gzip.open(packed, "rb") as src, fmt.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        compressed = not _loads(fmt, tmp)
        if compressed:  # this pdfTeX wants it as written: keep it so
            packed.replace(fmt)
            if not _loads(fmt, tmp):
                raise FormatError("pdflatex cannot compile a TikZ picture with the new format")
        for entry in tmp.iterdir():  # the log, the smoke test, kpathsea's folder
            if entry != fmt:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        fmt.chmod(0o444)
        meta = {"sha256": _sha256(fmt), "tex": identity, "layout": LAYOUT,
                "compressed": compressed,
                "head_sha256": hashlib.sha256(head.encode()).hexdigest(),
                "inputs": inputs}  # fmt: skip
        (tmp / "format.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        tmp.chmod(0o755)
        tmp.rename(root / key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root / key / f"{NAME}.fmt"


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold ``root/.lock`` exclusively: one process builds at a time."""
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _clear(root: Path, key: str) -> None:
    """With the lock held: remove builds that died halfway, and set aside and remove the
    key's folder when its format is damaged or stale (a running jail keeps the file it
    bound; a worker started meanwhile compiles the whole preamble)."""
    for entry in [*root.glob(".build-*"), *root.glob(".damaged-*")]:
        shutil.rmtree(entry, ignore_errors=True)
    folder = root / key
    if folder.is_symlink():
        folder.unlink()
    elif folder.exists() and checked(folder) is None:
        aside = root / f".damaged-{key}-{secrets.token_hex(4)}"
        folder.rename(aside)
        shutil.rmtree(aside, ignore_errors=True)


def tikz_format(use: bool | None = None) -> Path | None:
    """The checked format file for the current TeX and preamble, built when missing or
    damaged; None (said once in the log) when it cannot be had, or when ``use`` is False
    (None: when $VAD_TIKZ_FORMAT=0)."""
    if not (enabled() if use is None else use):
        return None
    try:
        identity = tex_identity()
        if identity is None:
            return None  # no TeX at all: `vad doctor` says so, TikZ jobs fail anyway
        head = preamble()
        root = private_root(tex_formats_dir())
        key = format_key(identity, head)
        found = checked(root / key)
        if found is not None:
            return found
        with _locked(root):
            _clear(root, key)
            found = checked(root / key)
            if found is None:
                found = build(root, key, head, identity)
                if checked(found.parent) is None:
                    raise FormatError("the format changed while it was being recorded")
        return found
    except (OSError, subprocess.SubprocessError, FormatError, ValueError) as exc:
        _say_once(
            f"TikZ jobs compile the whole preamble (slower): no preamble format ({exc}). "
            f"Check that pdflatex compiles TikZ (`vad doctor`), or set {SWITCH}=0 to skip it."
        )
        return None
