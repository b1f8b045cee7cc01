"""The TikZ preamble's format file, under its former name: the code is
vad/languages/_texformat.py, beside the tikz language whose ``prepare_host`` (the only
caller in a render pool) binds the format into the jail.

This name is that very module, not a copy (``vad doctor`` and the tests import it from
here): what is changed or patched through one is changed through the other.
"""

from __future__ import annotations

import sys

from vad.languages import _texformat

sys.modules[__name__] = _texformat
