"""amqpbase-perf: a PerfTest-style load tool for RabbitMQ over amqpbase (issue 15).

Installed as ``amqpbase.perf`` (the repository's ``perf/`` folder, like ``adapters/``); run it
as ``python -m amqpbase.perf`` or ``amqpbase-perf``. It is the TOP layer: it uses the public
API of amqpbase and its adapters, and nothing in amqpbase imports it. ``docs/perf-tool.md``
is its manual.

- ``options``: the command line (PerfTest's vocabulary) and its validation;
- ``core``: the one measurement core every flavour shares (counters, token bucket, latency
  samples, sequence checks, the reporter and the correctness check);
- ``drivers``: one thin driver per API (callback on four loops, awaitable, Deferred,
  blocking) that moves messages and calls the core;
- ``cli``: ``main()``, which picks the driver and prints the report.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: "list[str] | None" = None) -> int:
    """Run the tool with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    from .cli import main as _main

    return _main(argv)
