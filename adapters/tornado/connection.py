"""TornadoConnection: the base Connection's hooks on a Tornado ``IOLoop`` (rule 1).

Hooks only: no frame is parsed and no protocol state is kept here (``docs/internals.md``, "The
hook contract"). The stream work lives in :class:`~.transport.StreamTransport`, a separate
object, so its names can never collide with the base's private ones. Writes are coalesced:
``emit`` queues buffers by reference and asks the loop for one flush callback, which hands the
queue to Tornado's ``IOStream``.

The loop is ``custom_ioloop`` or ``IOLoop.current()`` taken when the connection is built (never
the deprecated ``IOLoop.instance()``, never at import time). Tornado 6 loops run on asyncio, so
a Tornado web application, asyncio code and amqpbase share one loop. The adapter never starts or
stops it.

Timers are ``IOLoop.call_later``; ``IOLoop.remove_timeout`` cancels the asyncio ``TimerHandle``
behind it, and ``TimerHandle.cancel()`` does nothing when the handle already ran or was
cancelled, so removing twice or after the timer fired is a no-op as the contract requires.
``IOLoop.add_callback`` is the one thread-safe ``IOLoop`` method (it uses
``call_soon_threadsafe`` from other threads, waking the loop).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from tornado.ioloop import IOLoop

from amqpbase.connection import Connection
from amqpbase.parameters import Parameters

from .transport import Buffer, StreamTransport


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
        self._io = StreamTransport(self, self.ioloop)
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

    # TEMP-SHIM (conn branch only): the hook is abstract now; the transport branch adds it.
    @classmethod
    def _create_for_workflow(
        cls, params: Parameters, on_open: Any, on_error: Any, custom_ioloop: Any
    ) -> Connection:
        return super()._create_for_workflow(params, on_open, on_error, custom_ioloop)

    def _adapter_connect_stream(self) -> None:
        self._io.connect(self.params)

    def _adapter_disconnect_stream(self) -> None:
        self._io.disconnect()

    def _adapter_emit_data(self, data: Buffer) -> None:
        self._io.emit(data)

    def _adapter_get_write_buffer_size(self) -> int:
        return self._io.wbuf_size

    def _adapter_call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.ioloop.call_later(delay, callback)

    def _adapter_remove_timeout(self, handle: Any) -> None:
        self.ioloop.remove_timeout(handle)

    def _adapter_add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        self.ioloop.add_callback(callback)
