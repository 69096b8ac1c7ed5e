"""``python -m medinpaint.batch``: the same as ``medinpaint batch``."""

import sys

from medinpaint.batch.cli import main

sys.exit(main(sys.argv[1:]))
