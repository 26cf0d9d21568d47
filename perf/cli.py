"""``main()``: parse the command line, run the chosen flavour, print the report.

Owns the exit status: 0 when the run completed (problems are printed as warnings), 1 when it
failed (a connection or channel error), 2 for a usage error, 3 with ``--strict`` when the
correctness check found a problem. It must not contain flavour logic (``drivers``) or
measurement logic (``core``).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from typing import List, Optional

from .core import Run
from .drivers import driver_for
from .options import UsageError, parse

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CHECK = 0, 1, 2, 3


def main(argv: Optional[List[str]] = None) -> int:
    """The console script ``amqpbase-perf`` and ``python -m amqpbase.perf``."""
    try:
        options = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        print(f"amqpbase-perf: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    run = Run(options)

    def early_stop(_signum: int, _frame: object) -> None:
        run.request_stop("signal")  # until the driver installs its loop's own handler

    signal.signal(signal.SIGTERM, early_stop)
    signal.signal(signal.SIGINT, early_stop)
    driver_for(options.api)(run)
    result = run.result()
    if options.json:
        print(json.dumps(result, indent=2, sort_keys=False))
    else:
        print(run.summary(result))
    if options.json:
        print(run.summary(result), file=sys.stderr)
    if result["errors"]:
        return EXIT_FAILED
    if options.strict and not result["checks"]["ok"]:
        return EXIT_CHECK
    return EXIT_OK
