"""TornadoConnection: the base Connection's hooks on a Tornado ``IOLoop`` (rule 1).

Hooks only, one call each: no frame is parsed and no protocol state is kept here
(``docs/internals.md``, "The hook contract"). The stream is ``self.transport``, a
:class:`~.transport.TornadoTransport` (the shared ``Transport`` of ``adapters/_transport/``);
timers and the thread-safe callback go through ``self.loop``, the :class:`~.loop.TornadoLoop`
over ``self.ioloop``. The same three attribute names on every adapter.

The loop is ``custom_ioloop`` or ``IOLoop.current()`` taken when the connection is built (never
the deprecated ``IOLoop.instance()``, never at import time). Tornado 6 loops run on asyncio, so
a Tornado web application, asyncio code and amqpbase share one loop. The adapter never starts or
stops it.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from tornado.ioloop import IOLoop

from amqpbase.connection import Connection
from amqpbase.parameters import Parameters

from .._transport.transport import Buffer
from .loop import TornadoLoop
from .transport import TornadoTransport


class TornadoConnection(Connection):
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
    ) -> None:
        # Everything the hooks use exists before the base may call them from __init__.
        self.ioloop: IOLoop = custom_ioloop if custom_ioloop is not None else IOLoop.current()
        self.loop = TornadoLoop(self.ioloop)
        self.transport = TornadoTransport(self, self.loop)
        super().__init__(
            parameters=parameters,
            on_open_callback=on_open_callback,
            on_open_error_callback=on_open_error_callback,
            on_close_callback=on_close_callback,
            internal_connection_workflow=internal_connection_workflow,
        )

    @classmethod
    def _workflow_loop(cls, custom_ioloop: Any) -> Any:
        # The attempts of one create_connection share one loop, the current one by default.
        return custom_ioloop if custom_ioloop is not None else IOLoop.current()

    def _adapter_connect_stream(self) -> None:
        self.transport.connect(self.params)

    def _adapter_disconnect_stream(self) -> None:
        self.transport.disconnect()

    def _adapter_emit_data(self, data: Buffer) -> None:
        self.transport.emit(data)

    def _adapter_get_write_buffer_size(self) -> int:
        return self.transport.write_buffer_size()

    def _adapter_call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.loop.call_later(delay, callback)

    def _adapter_remove_timeout(self, handle: Any) -> None:
        self.loop.cancel(handle)

    def _adapter_add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        self.loop.call_soon_threadsafe(callback)
