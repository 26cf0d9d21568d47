"""TransportHooks: the base ``Connection``'s adapter hooks, each one call into ``transport`` or
``loop``, written once for every adapter (``docs/internals.md``, "The hook contract").

An adapter's connection class derives from :class:`TransportHooks`, sets ``self.loop`` (its
loop interface) and ``self.transport`` (its :class:`~.transport.Transport`) before calling
the base ``__init__``, and implements only what is its own: ``_workflow_loop``, and where it
differs, ``_create_for_workflow`` and ``_adapter_get_write_buffer_size``. No protocol state and
no AMQP here.
"""

from __future__ import annotations

from typing import Any, Callable

from amqpbase.connection import Connection

from .loop import Loop
from .transport import Buffer, Transport


class TransportHooks(Connection, abstract=True):
    """The hooks over ``self.transport`` and ``self.loop`` (see the module docstring)."""

    transport: Transport
    loop: Loop

    def _adapter_connect_stream(self) -> None:
        self.transport.connect(self.params)

    def _adapter_disconnect_stream(self) -> None:
        self.transport.disconnect()

    def _adapter_emit_data(self, data: Buffer) -> None:
        self.transport.emit(data)

    def _adapter_get_write_buffer_size(self) -> int:
        # The queue alone (the socket transport hands everything to the kernel): read without
        # a method call, since the base asks once per publish while backpressure callbacks are
        # set. A transport that holds bytes elsewhere (Twisted) overrides this.
        return self.transport.queue.size

    def _adapter_call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.loop.call_later(delay, callback)

    def _adapter_remove_timeout(self, handle: Any) -> None:
        self.loop.cancel(handle)

    def _adapter_add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        self.loop.call_soon_threadsafe(callback)


__all__ = ["TransportHooks"]
