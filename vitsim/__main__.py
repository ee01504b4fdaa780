"""``python -m vitsim ...`` is the ``vitsim`` command."""

import sys

from vitsim.analysis.cli import main

if __name__ == "__main__":
    sys.exit(main())
