"""SelectConnection: the base Connection's hooks on the select :class:`IOLoop` (rule 1).

Hooks only: no frame is parsed and no protocol state is kept here (``docs/internals.md``, "The
hook contract"). The socket work lives in :class:`~.transport.SocketTransport`, a separate
object, so its names can never collide with the base's private ones. Writes are coalesced:
``emit`` queues buffers by reference and asks the loop for one before-poll flush, which hands
every queued buffer to the kernel with one ``sendmsg``.

``_adapter_disconnect_stream()`` makes one last non-blocking write of the bytes already queued
(so a Connection.CloseOk emitted just before it reaches the broker when the socket has room),
never waits for it, then closes the socket and reports ``_on_stream_terminated(None)`` from a
loop callback.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from amqpbase.connection import Connection
from amqpbase.parameters import Parameters

from .ioloop import IOLoop
from .transport import Buffer, SocketTransport


class SelectConnection(Connection):
    """AMQP connection on the select :class:`IOLoop` (``custom_ioloop``, else a new one)."""

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
        self.ioloop = custom_ioloop if custom_ioloop is not None else IOLoop()
        self._io = SocketTransport(self, self.ioloop)
        super().__init__(
            parameters=parameters,
            on_open_callback=on_open_callback,
            on_open_error_callback=on_open_error_callback,
            on_close_callback=on_close_callback,
            internal_connection_workflow=internal_connection_workflow,
        )

    @classmethod
    def _workflow_loop(cls, custom_ioloop: Any) -> Any:
        # pika's select create_connection: the attempts of one workflow share one loop.
        return custom_ioloop if custom_ioloop is not None else IOLoop()

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
        return self._io.queue.size

    def _adapter_call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.ioloop.call_later(delay, callback)

    def _adapter_remove_timeout(self, handle: Any) -> None:
        self.ioloop.remove_timeout(handle)

    def _adapter_add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        self.ioloop.add_callback_threadsafe(callback)
