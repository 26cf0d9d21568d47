"""TwistedConnection: the base Connection's hooks on a Twisted reactor (rule 1).

Hooks only, one call each: no frame is parsed and no protocol state is kept here
(``docs/internals.md``, "The hook contract"). The stream is ``self.transport``, a
:class:`~.transport.TwistedTransport` (the shared ``Transport`` of ``adapters/_transport/``);
timers and the thread-safe callback go through ``self.loop``, the :class:`~.loop.TwistedLoop`
over ``self.reactor``. The same attribute names on every adapter (the loop object itself is
``reactor`` here, as in pika).

The reactor is a constructor argument (``custom_reactor``); without one the global reactor is
imported when the connection is built, never when this module is imported (internals.md rule 4),
so ``pytest --reactor=asyncio`` or an application's own ``install()`` keeps working.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from amqpbase.connection import Connection
from amqpbase.protocol.recovery import Recovery
from amqpbase.parameters import Parameters

from .._transport.hooks import TransportHooks
from .loop import Reactor, TwistedLoop
from .transport import TwistedTransport


def _global_reactor() -> Reactor:
    """The installed global reactor, imported only now (importing it installs the default
    reactor when none is installed yet)."""
    from twisted.internet import reactor

    return reactor


class TwistedConnection(TransportHooks):
    """AMQP connection on a Twisted reactor (``custom_reactor``, else the global reactor).

    All callbacks run on the reactor thread. ``reactor`` is the reactor in use. The pika-style
    callback API is the base's; ``amqpbase.adapters.twisted.TwistedProtocolConnection`` adds
    the Deferred-flavoured one on top of this class.
    """

    transport: TwistedTransport

    def __init__(
        self,
        parameters: Optional[Parameters] = None,
        on_open_callback: Optional[Callable[..., Any]] = None,
        on_open_error_callback: Optional[Callable[..., Any]] = None,
        on_close_callback: Optional[Callable[..., Any]] = None,
        custom_reactor: Optional[Reactor] = None,
        internal_connection_workflow: bool = True,
        recovery: Optional[Recovery] = None,
    ) -> None:
        # Everything the hooks use exists before the base may call them from __init__.
        self.reactor: Reactor = custom_reactor if custom_reactor is not None else _global_reactor()
        self.loop = TwistedLoop(self.reactor)
        self.transport = TwistedTransport(self, self.loop)
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
        # create_connection(..., custom_ioloop=<reactor or None>): every attempt of a workflow
        # runs on the same reactor, the global one unless a reactor is given.
        return custom_ioloop if custom_ioloop is not None else _global_reactor()

    @classmethod
    def _create_for_workflow(
        cls,
        params: Parameters,
        on_open: Callable[..., Any],
        on_error: Callable[..., Any],
        custom_ioloop: Any,
    ) -> Connection:
        # The base passes the loop as ``custom_ioloop``; this constructor calls it
        # ``custom_reactor``.
        return cls(
            parameters=params,
            on_open_callback=on_open,
            on_open_error_callback=on_error,
            custom_reactor=custom_ioloop,
            internal_connection_workflow=False,
        )

    # ----------------------------------------------------------------------------------------
    # A stream someone else connected: what TwistedProtocolConnection uses when Twisted runs
    # it as a protocol (pika's _TwistedConnectionAdapter has the same three names). Not in
    # pika's public API.
    # ----------------------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        """Run the pending (or next) open attempt on ``transport``, a Twisted ``ITransport``
        already connected by someone else, instead of resolving and connecting: ONE attempt
        (a retry fails at once: reconnecting is up to whoever connected it). The protocol
        Twisted gave the transport passes its bytes and its end on with
        :meth:`data_received` and :meth:`connection_lost`. On the reactor thread."""
        self.transport.adopt(transport)

    def data_received(self, data: bytes) -> None:
        """Bytes from the transport given to :meth:`connection_made`."""
        self.transport.adopted_data(data)

    def connection_lost(self, reason: Any) -> None:
        """The transport given to :meth:`connection_made` ended (a Twisted ``Failure``)."""
        self.transport.adopted_lost(reason)

    def hold_connect(self) -> None:
        """Let the open attempt wait for :meth:`connection_made` or :meth:`release_connect`
        instead of connecting by itself (call it right after construction: the first attempt
        starts from the reactor)."""
        self.transport.hold = True

    def release_connect(self) -> None:
        """Connect by itself after all (from ``params``), unless :meth:`connection_made`
        came first; a no-op then."""
        self.transport.release_hold()

    def _adapter_get_write_buffer_size(self) -> int:
        return self.transport.write_buffer_size()  # the queue plus what Twisted holds
