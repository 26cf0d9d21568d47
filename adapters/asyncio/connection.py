"""AsyncioConnection: the base Connection's hooks on a plain asyncio event loop (rule 1), pika's
name and signature.

Hooks only, one call each: no frame is parsed and no protocol state is kept here
(``docs/internals.md``, "The hook contract"). The stream is ``self.transport``, the shared
socket transport (``adapters/_transport/sockets.py``) with the flush-after-read strategy;
timers, readiness and the thread-safe callback go through ``self.loop``, the
:class:`~amqpbase.adapters._transport.asyncio_loop.AsyncioLoop` over ``self.ioloop`` (the asyncio loop itself, as in pika).

The loop is ``custom_ioloop``, else the loop running when the connection is built, else (as
pika does) the calling thread's current event loop, which the program then runs itself
(``connection.ioloop.run_forever()``). The adapter never starts or stops it.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from typing import Any, Callable, Optional

from amqpbase.connection import Connection
from amqpbase.protocol.recovery import Recovery
from amqpbase.parameters import Parameters

from .._transport import strategies
from .._transport.hooks import TransportHooks
from .._transport.sockets import SocketTransport
from .._transport.asyncio_loop import AsyncioLoop

LOGGER = logging.getLogger(__name__)


def default_loop(custom_ioloop: Optional[asyncio.AbstractEventLoop]) -> asyncio.AbstractEventLoop:
    """``custom_ioloop``, else the running loop, else the thread's current loop (pika's
    ``asyncio.get_event_loop()``, without its deprecation warning: the caller runs it)."""
    if custom_ioloop is not None:
        if not isinstance(custom_ioloop, asyncio.AbstractEventLoop):
            raise TypeError(
                f"custom_ioloop must be an asyncio event loop, got {custom_ioloop!r}")
        return custom_ioloop
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError as exc:
            raise RuntimeError(
                "AsyncioConnection: no asyncio loop is running in this thread and it has no "
                "current loop; build the connection inside a coroutine (asyncio.run) or pass "
                "custom_ioloop"
            ) from exc


class AsyncioConnection(TransportHooks):
    """AMQP connection on an asyncio event loop (exposed as ``self.ioloop``)."""

    def __init__(
        self,
        parameters: Optional[Parameters] = None,
        on_open_callback: Optional[Callable[..., Any]] = None,
        on_open_error_callback: Optional[Callable[..., Any]] = None,
        on_close_callback: Optional[Callable[..., Any]] = None,
        custom_ioloop: Optional[asyncio.AbstractEventLoop] = None,
        internal_connection_workflow: bool = True,
        recovery: Optional[Recovery] = None,
    ) -> None:
        # Everything the hooks use exists before the base may call them from __init__.
        self.ioloop = default_loop(custom_ioloop)
        self.loop = AsyncioLoop(self.ioloop)
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
        # The attempts of one create_connection share one loop.
        return default_loop(custom_ioloop)


__all__ = ["AsyncioConnection"]
