"""``python -m codegen MODULE... --out DIR``: the same command as ``eventbus codegen``."""

import sys

from codegen.cli import main

sys.exit(main())
