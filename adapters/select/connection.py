"""SelectConnection: the base Connection's hooks on the select :class:`IOLoop` (rule 1).

Hooks only, one call each: no frame is parsed and no protocol state is kept here
(``docs/internals.md``, "The hook contract"). The stream is ``self.transport``, the shared
socket transport (``adapters/_transport/sockets.py``) with select's write strategy (flush
before the next poll); timers, readiness and the thread-safe callback go through
``self.loop``, the :class:`~.loop.SelectLoop` over ``self.ioloop``. The same three attribute
names on every adapter.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from amqpbase.connection import Connection
from amqpbase.protocol.recovery import Recovery
from amqpbase.parameters import Parameters

from .._transport import strategies
from .._transport.hooks import TransportHooks
from .._transport.sockets import SocketTransport
from .ioloop import IOLoop
from .loop import SelectLoop

LOGGER = logging.getLogger(__name__)


class SelectConnection(TransportHooks):
    """AMQP connection on the select :class:`IOLoop` (``custom_ioloop``, else a new one)."""

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
        self.ioloop = custom_ioloop if custom_ioloop is not None else IOLoop()
        self.loop = SelectLoop(self.ioloop)
        self.transport = SocketTransport(self, self.loop, strategies.SELECT, LOGGER)
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
        # pika's select create_connection: the attempts of one workflow share one loop.
        return custom_ioloop if custom_ioloop is not None else IOLoop()

    def _default_on_open_error(self, connection: Connection, error: BaseException) -> None:
        """With no ``on_open_error_callback``: pika's select adapter raises the open error
        out of ``ioloop.start()`` (a program waiting in ``start()`` for a broker that cannot
        be reached would otherwise wait forever). The error is logged too, in case the loop
        is someone else's."""
        super()._default_on_open_error(connection, error)
        self.ioloop.stop_with_error(error)
