"""``python -m dataset_gen``: see :mod:`dataset_gen.cli`."""

import sys

from .cli import main

sys.exit(main())
