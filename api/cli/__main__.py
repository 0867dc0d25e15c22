"""``python -m api.cli``: the ``wangge`` command line."""

import sys

from api.cli import main

sys.exit(main())
