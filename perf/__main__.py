"""``python -m amqpbase.perf``: the load tool's entry point (see ``docs/perf-tool.md``)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
