"""`python -m vad ...` (and `torchrun -m vad train ...`)."""

import sys

from vad.cli import main

sys.exit(main())
