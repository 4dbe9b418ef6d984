"""`python -m amlsync_sandbox` is the `amlsync-sandbox` command."""

import sys

from amlsync_sandbox.cli import main

sys.exit(main())
