"""``python -m misper.api.cli``: the same as the ``misper`` command."""

import sys

from misper.api.cli.main import main

sys.exit(main())
