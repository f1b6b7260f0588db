"""``python -m weightcast.cli``: the ``weightcast`` command."""

import sys

from . import main

sys.exit(main())
