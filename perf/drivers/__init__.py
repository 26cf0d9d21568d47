"""The flavour drivers: each moves messages with one API and calls the shared core.

``callback`` (select, asyncio, Tornado and Twisted loops: pika's callback API, one driver
with a small loop kit per loop), ``asyncflow`` (one coroutine flow for the awaitable API on
asyncio/Tornado and the Deferred API on Twisted, with a kit each) and ``blocking``
(BlockingConnection, a thread per producer and consumer). A driver must not count, time or
decide anything the core can: it publishes what ``ProducerCore.allowance`` allows, hands
outcomes to ``settle`` and bodies to ``ConsumerCore.record``, and stops when ``Run.poll``
says so. This module holds what every driver shares: the connection parameters.
"""

from __future__ import annotations

from typing import Callable

from amqpbase import URLParameters

from ..core import Run


def parameters(run: Run, index: int, role: str) -> URLParameters:
    """Parameters of connection ``index`` (0: set-up, then consumers, then producers), on
    the URI it is spread to, named after its ``role`` (RabbitMQ's management UI shows it)."""
    params = URLParameters(run.connection_uri(index))
    if run.options.heartbeat is not None:
        params.heartbeat = run.options.heartbeat
    name = f"amqpbase-perf {run.options.id or run.plan.queue} {role}"
    params.client_properties = {"connection_name": name}
    return params


def driver_for(api: str) -> Callable[[Run], None]:
    """The function that runs ``run`` with ``api`` (imported lazily: only the chosen
    flavour's framework is imported)."""
    if api == "callback":
        from .callback import run_callback

        return run_callback
    if api in ("awaitable", "deferred"):
        from .asyncflow import run_async

        return run_async
    from .blocking import run_blocking

    return run_blocking


__all__ = ["driver_for", "parameters"]
