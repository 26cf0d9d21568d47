"""``FutureConnection`` and the ``connect`` factory of the awaitable API, for any connection
class whose loop is an asyncio loop (Tornado's ``TornadoConnection`` today; an asyncio
adapter's tomorrow: ``connect = make_connect(AsyncioConnection)``).

Must not: know a particular loop or adapter (the connection class is a parameter), parse
frames or keep protocol state.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Awaitable, Callable, List, Optional, Protocol, Type

from amqpbase.channel import Channel
from amqpbase.connection import Connection
from amqpbase.parameters import Parameters

from ._tools import fail, settle
from .channel import FutureChannel


class ConnectionFactory(Protocol):
    """A connection class with pika's adapter signature (``custom_ioloop`` keyword)."""

    def __call__(
        self,
        parameters: Optional[Parameters] = ...,
        on_open_callback: Optional[Callable[..., Any]] = ...,
        on_open_error_callback: Optional[Callable[..., Any]] = ...,
        on_close_callback: Optional[Callable[..., Any]] = ...,
        custom_ioloop: Any = ...,
        *,
        recovery: Any = ...,
    ) -> Connection: ...


class FutureConnection:
    """An open connection of the awaitable API (from ``await connect(...)``); an async
    context manager that closes it on exit. :attr:`impl` is the callback-API connection."""

    def __init__(self, impl: Connection, loop: asyncio.AbstractEventLoop,
                 closed: "asyncio.Future[BaseException]") -> None:
        self.impl = impl
        self._loop = loop
        self._closed = closed
        #: Futures of recovered() calls waiting for the next recovery's end; the pair of
        #: connection callbacks is registered once (on first use), not per call.
        self._recovery_waiters: List["asyncio.Future[Any]"] = []
        self._recovery_hooked = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.impl!r}>"

    @property
    def is_open(self) -> bool:
        return self.impl.is_open

    @property
    def recovering(self) -> bool:
        """True while the connection recovers (issue 12)."""
        return self.impl.recovering

    def recovered(self) -> "asyncio.Future[Any]":
        """A future for the next successful recovery: resolves with its ``RecoveryReport``,
        fails with ``RecoveryFailedError`` (or the close reason) if the connection ends
        first."""
        future: "asyncio.Future[Any]" = self._loop.create_future()
        if not self._recovery_hooked:
            self._recovery_hooked = True
            self.impl.add_on_recovery_succeeded_callback(self._on_recovered)
            self.impl.add_on_close_callback(self._on_recovery_ended)
        self._recovery_waiters.append(future)
        return future

    def _on_recovered(self, _connection: Connection, report: Any) -> None:
        waiters, self._recovery_waiters = self._recovery_waiters, []
        for future in waiters:
            settle(future, report)

    def _on_recovery_ended(self, _connection: Connection, reason: BaseException) -> None:
        waiters, self._recovery_waiters = self._recovery_waiters, []
        for future in waiters:
            fail(future, reason)

    @property
    def closed(self) -> "asyncio.Future[BaseException]":
        """Resolves with the close reason (``ConnectionClosedByClient`` after our close,
        ``ConnectionClosedByBroker``, ``StreamLostError``, ...); never fails. A new shield per
        access: cancelling one await leaves the others."""
        return asyncio.shield(self._closed)

    def add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        """The one way in from another thread: ``callback()`` runs on the loop thread."""
        self.impl.add_callback_threadsafe(callback)

    async def channel(self, channel_number: Optional[int] = None) -> FutureChannel:
        """Open a channel; raises the close reason when it closes before it opened.
        Cancelling the await closes the channel once it opens."""
        opened: "asyncio.Future[Channel]" = self._loop.create_future()

        def on_open(channel: Channel) -> None:
            if opened.cancelled():
                channel.close()  # its opener gave up meanwhile
            else:
                settle(opened, channel)

        def on_close(_channel: Channel, reason: BaseException) -> None:
            fail(opened, reason)

        impl = self.impl.channel(channel_number, on_open)
        impl.add_on_close_callback(on_close)
        await opened  # cancelled: on_open closes the channel when Channel.OpenOk comes
        return FutureChannel(impl, self._loop)

    async def close(self, reply_code: int = 200,
                    reply_text: str = "Normal shutdown") -> BaseException:
        """Close the connection (channels first); returns the close reason. On a connection
        closing or closed already, just waits for the reason."""
        if not (self.impl.is_closing or self.impl.is_closed):
            self.impl.close(reply_code, reply_text)
        return await self.closed

    async def __aenter__(self) -> "FutureConnection":
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]],
                        exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        await self.close()


def make_connect(
    connection_class: ConnectionFactory,
) -> Callable[..., Awaitable[FutureConnection]]:
    """The ``connect(parameters=None, *, custom_ioloop=None)`` of one adapter."""

    async def connect(parameters: Optional[Parameters] = None, *,
                      custom_ioloop: Any = None, recovery: Any = None) -> FutureConnection:
        """Open a connection; raises the real open error (``ProbableAuthenticationError``,
        ``AMQPConnectionError`` with the ``TCPConnectionRefusedError`` ...)."""
        loop = asyncio.get_running_loop()
        opened: "asyncio.Future[Connection]" = loop.create_future()
        closed: "asyncio.Future[BaseException]" = loop.create_future()

        def on_open_error(_connection: Connection, error: BaseException) -> None:
            fail(opened, error)
            settle(closed, error)

        def on_close(_connection: Connection, reason: BaseException) -> None:
            fail(opened, reason)
            settle(closed, reason)

        impl = connection_class(
            parameters,
            on_open_callback=lambda connection: settle(opened, connection),
            on_open_error_callback=on_open_error,
            on_close_callback=on_close,
            custom_ioloop=custom_ioloop,
            recovery=recovery,
        )
        try:
            await opened
        except asyncio.CancelledError:
            if not (impl.is_closing or impl.is_closed):
                impl.close()
            raise
        return FutureConnection(impl, loop, closed)

    return connect
