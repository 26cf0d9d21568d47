"""TornadoConnection: the base Connection's hooks on a Tornado ``IOLoop`` (rule 1).

Hooks only, one call each: no frame is parsed and no protocol state is kept here
(``docs/internals.md``, "The hook contract"). The stream is ``self.transport``, the shared
socket transport (``adapters/_transport/sockets.py``) with the flush-after-read strategy, on
the socket directly (not an ``IOStream``); timers, readiness and the thread-safe callback go
through ``self.loop``, the :class:`~.loop.TornadoLoop` over ``self.ioloop``. The same three
attribute names on every adapter.

The loop is ``custom_ioloop``, else the ``IOLoop`` of the asyncio loop running when the
connection is built (never the deprecated ``IOLoop.instance()``, never at import time). Built
with neither (at module level, before ``asyncio.run``), it raises ``RuntimeError`` at once:
the loop ``IOLoop.current()`` would make up there is not the one ``asyncio.run`` runs, and the
connection would silently never open. Tornado 6 loops run on asyncio, so a Tornado web
application, asyncio code and amqpbase share one loop. The adapter never starts or stops it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Optional

from tornado.ioloop import IOLoop

from amqpbase.connection import Connection
from amqpbase.protocol.recovery import Recovery
from amqpbase.parameters import Parameters

from .._transport import strategies
from .._transport.hooks import TransportHooks
from .._transport.sockets import SocketTransport
from .loop import TornadoLoop

LOGGER = logging.getLogger(__name__)


def default_ioloop(custom_ioloop: Optional[IOLoop]) -> IOLoop:
    """``custom_ioloop``, else the running loop's ``IOLoop``; with neither, ``RuntimeError``."""
    if custom_ioloop is not None:
        if not isinstance(custom_ioloop, IOLoop):
            raise TypeError(f"custom_ioloop must be a tornado IOLoop, got {custom_ioloop!r}")
        return custom_ioloop
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "TornadoConnection: no event loop is running, so there is no IOLoop to run on; "
            "build the connection inside a coroutine or callback of the running loop "
            "(asyncio.run(main()), IOLoop.run_sync), or pass custom_ioloop=<the IOLoop you "
            "will start>"
        ) from None
    return IOLoop.current()


class TornadoConnection(TransportHooks):
    """AMQP connection on a Tornado ``IOLoop``: ``custom_ioloop``, else ``IOLoop.current()``
    at construction (exposed as ``self.ioloop``)."""

    def __init__(
        self,
        parameters: Optional[Parameters] = None,
        on_open_callback: Optional[Callable[..., Any]] = None,
        on_open_error_callback: Optional[Callable[..., Any]] = None,
        on_close_callback: Optional[Callable[..., Any]] = None,
        custom_ioloop: Optional[IOLoop] = None,
        internal_connection_workflow: bool = True,
        recovery: Optional[Recovery] = None,
    ) -> None:
        # Everything the hooks use exists before the base may call them from __init__.
        self.ioloop: IOLoop = default_ioloop(custom_ioloop)
        self.loop = TornadoLoop(self.ioloop)
        self.transport = SocketTransport(self, self.loop, strategies.ASYNCIO, LOGGER)
        super().__init__(
            parameters=parameters,
            on_open_callback=on_open_callback,
            on_open_error_callback=on_open_error_callback,
            on_close_callback=on_close_callback,
            internal_connection_workflow=internal_connection_workflow,
            recovery=recovery,
        )

    @classmethod
    def _workflow_loop(cls, custom_ioloop: Any) -> Any:
        # The attempts of one create_connection share one loop, the running one by default.
        return default_ioloop(custom_ioloop)
