"""The Deferred-flavoured Twisted API: pika's ``TwistedProtocolConnection`` family.

- :class:`TwistedProtocolConnection`: a Twisted ``Protocol``, as pika's: given a transport by
  Twisted (``ClientCreator(reactor, TwistedProtocolConnection, params).connectTCP(host,
  port)``, an endpoint's ``connect(factory)``) it runs AMQP on that transport; used on its own
  it connects by itself from its parameters (host, port, TLS, attempts and retries by the
  base ``Connection``). ``ready`` / ``closed`` Deferreds, ``channel()`` returning a Deferred
  and ``close()``.
- :class:`TwistedChannel` (``._deferred_channel``): every channel RPC returns a Deferred;
  ``basic_consume`` hands out a :class:`ClosableDeferredQueue` of :class:`ReceivedMessage`;
  in confirm mode every ``basic_publish`` returns a Deferred for its broker confirm.

Both sit on the callback API (:class:`~.connection.TwistedConnection`,
:class:`amqpbase.channel.Channel`) and know no AMQP themselves. The user guide is
``docs/guide-twisted.md``.

Rules shared by everything here:

- ``ready``, ``closed`` (connection and channel) are properties that hand out a NEW Deferred on
  every access, fired at once when the outcome is already known: any number of consumers, at
  any time, all get the result (never a None left over by another consumer's callback), and an
  outcome nobody asked for is never reported as an "Unhandled error in Deferred".
- A method returning a Deferred never raises; its errors (bad arguments included) come back
  through the Deferred.
- Every pending Deferred fails with the close reason when the channel or connection closes.
- Cancelling one of our Deferreds detaches its owner and never breaks anything else.
"""

from __future__ import annotations

import logging
import sys
from types import FrameType
from typing import Any, Callable, Dict, Optional, Set

from twisted.internet import defer
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure

from amqpbase import exceptions, frame
from amqpbase.channel import Channel
from amqpbase.parameters import Parameters

from ._deferred_channel import TwistedChannel
from ._deferred_tools import ClosableDeferredQueue, Outcome, ReceivedMessage, fail_with
from .connection import TwistedConnection

__all__ = [
    "ClosableDeferredQueue",
    "ReceivedMessage",
    "TwistedChannel",
    "TwistedProtocolConnection",
]

LOGGER = logging.getLogger("amqpbase.adapters.twisted")

def _built_by_twisted() -> bool:
    """Whether the ``TwistedProtocolConnection`` being built is built by Twisted's protocol
    machinery: ``ClientCreator`` (``twisted.internet.protocol``), a factory's
    ``buildProtocol``. Looks at the frame that called the constructor (past subclasses'
    ``__init__``); once per connection, never on a hot path."""
    frame: Optional[FrameType] = sys._getframe(2)  # 0: here, 1: __init__, 2: its caller
    while frame is not None and frame.f_code.co_name == "__init__":
        frame = frame.f_back  # a subclass's __init__ calling ours
    if frame is None:
        return False
    return (frame.f_code.co_name == "buildProtocol"
            or frame.f_globals.get("__name__") == "twisted.internet.protocol")


#: Ends of a connection that the client asked for: ``closed`` FIRES with them.
_CLIENT_CLOSES = (exceptions.ConnectionClosedByClient, exceptions.ConnectionOpenAborted)


class TwistedProtocolConnection(Protocol):
    """An AMQP connection with pika's Deferred-based Twisted API; a Twisted ``Protocol``.

    Two ways to run it:

    - As a protocol (pika's way): Twisted connects and hands it the transport
      (``ClientCreator(reactor, TwistedProtocolConnection, params).connectTCP(host, port)``,
      ``endpoint.connect(Factory.forProtocol(TwistedProtocolConnection))``, any factory whose
      ``buildProtocol`` returns one). AMQP runs on that transport, one open attempt, no
      connection of its own; ``params.host``/``port``/``connection_attempts`` are not used
      (``ssl_options`` is: TLS over the given transport). Closing the connection closes the
      transport.
    - On its own: ``TwistedProtocolConnection(params)`` connects by itself to
      ``params.host``/``port`` (TLS with ``params.ssl_options``) through a
      :class:`~.connection.TwistedConnection`, making ``connection_attempts`` attempts
      ``retry_delay`` apart, starting at once (from the reactor).

    Which one: an instance built by Twisted's protocol machinery (``ClientCreator``, a
    ``Factory.buildProtocol``, or any function named ``buildProtocol``: the constructor looks
    at its caller) waits for the transport Twisted connects, so there is never a second
    connection; if none comes and :attr:`ready`, :attr:`closed`, :meth:`channel` or
    :meth:`close` is used, it connects by itself after all (a reactor turn later, so a
    ``buildProtocol`` that uses it before returning still gets Twisted's transport).
    Any other instance connects by itself.

    :attr:`impl` is the callback-API ``TwistedConnection`` underneath, for what this class does
    not wrap (``update_secret``, the capability flags, ``add_callback_threadsafe``...).

    The constructor raises ``TypeError`` for ``parameters`` that are not a ``Parameters``
    instance; everything that goes wrong later is reported through :attr:`ready` and
    :attr:`closed`.
    """

    def __init__(self, parameters: Optional[Parameters] = None, custom_reactor: Any = None,
                 recovery: Any = None) -> None:
        self._ready: Outcome[Any] = Outcome()
        self._closed: Outcome[BaseException] = Outcome()
        self._channel_opens: Set["defer.Deferred[Any]"] = set()
        self._end_reason: Optional[BaseException] = None
        self._self_connect_asked = False
        #: The outcome every recovered() call waits on until the next recovery ends (one
        #: pair of connection callbacks for all of them, registered once: no growth per call).
        self._next_recovery: Optional[Outcome[Any]] = None
        self.impl = TwistedConnection(
            parameters,
            on_open_callback=self._on_open,
            on_open_error_callback=self._on_open_error,
            on_close_callback=self._on_close,
            custom_reactor=custom_reactor,
            recovery=recovery,
        )
        self.impl.add_on_recovery_succeeded_callback(self._on_recovered)
        if _built_by_twisted():
            # The first attempt (a reactor turn away) waits for the transport Twisted is
            # connecting (makeConnection), or the first use (_use) if none comes.
            self.impl.hold_connect()

    # ----------------------------------------------------------------------------------------
    # Twisted's IProtocol: the transport Twisted connected
    # ----------------------------------------------------------------------------------------

    def connectionMade(self) -> None:  # noqa: N802 - Twisted's names
        """Twisted gave us a connected transport: the open attempt runs on it."""
        self.impl.connection_made(self.transport)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.impl.data_received(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:  # noqa: N802
        """The transport ended: reported as the stream's end (``StreamLostError`` to
        :attr:`ready` while opening, to :attr:`closed` once open), unless we closed it."""
        self.impl.connection_lost(reason)

    def connectionReady(self) -> Any:  # noqa: N802 - pika's name
        """pika's hook: what :attr:`ready` fires with once the connection is open (this
        connection; a subclass may return something else)."""
        return self

    def _use(self) -> None:
        """The Deferred API is used: a connection waiting for Twisted's transport connects by
        itself unless one comes in this reactor turn (a factory's buildProtocol is followed
        at once by makeConnection). Nothing for any other connection."""
        if not self._self_connect_asked:
            self._self_connect_asked = True
            self.impl.reactor.callLater(0, self.impl.release_connect)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.impl!r}>"

    # ----------------------------------------------------------------------------------------
    # Outcomes
    # ----------------------------------------------------------------------------------------

    @property
    def ready(self) -> "defer.Deferred[Any]":
        """A new Deferred on every access: fires with this connection once it is open, or
        fails with the exact exception the open failed with (``ProbableAuthenticationError``,
        ``ProbableAccessDeniedError``, ``TCPConnectionRefusedError``, ``SocketTimeoutError``,
        ``StackTimeoutError``, ``ConnectionOpenAborted`` after ``close()`` while opening...).
        Cancelling it detaches only that Deferred; use :meth:`close` to abandon the open.
        (pika's ``ready`` fires once with ``connectionReady()``, this connection, too.)"""
        self._use()
        return self._ready.deferred()

    @property
    def closed(self) -> "defer.Deferred[BaseException]":
        """A new Deferred on every access for the end of the connection.

        It FIRES with the reason when the client ended it: ``ConnectionClosedByClient`` after
        :meth:`close`, ``ConnectionOpenAborted`` after :meth:`close` while opening. It FAILS
        with the reason otherwise: ``ConnectionClosedByBroker`` (e.g. 320 from
        ``rabbitmqctl close_connection``), ``StreamLostError``, ``AMQPHeartbeatTimeout``, ...,
        or the open error when the connection never opened. (pika fires it in every case.)
        """
        self._use()
        return self._closed.deferred()

    @property
    def is_open(self) -> bool:
        return self.impl.is_open

    @property
    def recovering(self) -> bool:
        """True while the connection recovers (issue 12)."""
        return self.impl.recovering

    def recovered(self) -> "defer.Deferred[Any]":
        """A Deferred for the next successful recovery: fires with its ``RecoveryReport``,
        fails with ``RecoveryFailedError`` (or the close reason) if the connection ends
        first."""
        outcome = self._next_recovery
        if outcome is None:
            outcome = self._next_recovery = Outcome()
            if self.impl.is_closed:
                self._next_recovery = None
                outcome.fail(self._end_reason or exceptions.ConnectionWrongStateError(
                    "recovered() on a closed connection"))
        return outcome.deferred()

    def _on_recovered(self, _connection: Any, report: Any) -> None:
        outcome, self._next_recovery = self._next_recovery, None
        if outcome is not None:
            outcome.succeed(report)

    @property
    def is_closing(self) -> bool:
        return self.impl.is_closing

    @property
    def is_closed(self) -> bool:
        return self.impl.is_closed

    @property
    def params(self) -> Parameters:
        return self.impl.params

    @property
    def reactor(self) -> Any:
        """The reactor the connection runs on."""
        return self.impl.reactor

    @property
    def server_properties(self) -> Dict[str, Any]:
        return self.impl.server_properties

    def add_on_connection_blocked_callback(
        self, callback: Callable[[Any, frame.Method], Any]
    ) -> None:
        """RabbitMQ extension: ``callback(impl, method_frame)`` on Connection.Blocked."""
        self.impl.add_on_connection_blocked_callback(callback)

    def add_on_connection_unblocked_callback(
        self, callback: Callable[[Any, frame.Method], Any]
    ) -> None:
        """RabbitMQ extension: ``callback(impl, method_frame)`` on Connection.Unblocked."""
        self.impl.add_on_connection_unblocked_callback(callback)

    # ----------------------------------------------------------------------------------------
    # Channels and closing
    # ----------------------------------------------------------------------------------------

    def channel(self, channel_number: Optional[int] = None) -> "defer.Deferred[TwistedChannel]":
        """Open a channel: fires with a :class:`TwistedChannel` on Channel.OpenOk, fails with
        the close reason if the channel or the connection closes first (or with the open
        error). Called while the connection is still opening, it waits for :attr:`ready`; on a
        connection that has ended it fails with the reason it ended. Cancelling the Deferred
        closes the channel being opened."""
        self._use()
        if self._end_reason is not None:
            return defer.fail(self._end_reason)
        if not self._ready.settled:
            waiting = self._ready.deferred()
            waiting.addCallback(lambda _connection: self.channel(channel_number))
            return waiting
        opens = self._channel_opens
        wrapper: Optional[TwistedChannel] = None

        def on_open(_channel: Channel) -> None:
            if deferred in opens:
                opens.discard(deferred)
                deferred.callback(wrapper)

        def on_close(_channel: Channel, reason: BaseException) -> None:
            if deferred in opens:
                opens.discard(deferred)
                fail_with(deferred, reason)

        def abandon(_deferred: "defer.Deferred[Any]") -> None:
            opens.discard(deferred)
            if base.is_opening or base.is_open:
                base.close()

        deferred: "defer.Deferred[Any]" = defer.Deferred(canceller=abandon)
        try:
            base = self.impl.channel(channel_number, on_open_callback=on_open)
        except Exception as error:  # noqa: BLE001 - reported through the Deferred
            return defer.fail(error)
        wrapper = TwistedChannel(base)
        base.add_on_close_callback(on_close)
        opens.add(deferred)
        return deferred

    def close(
        self, reply_code: int = 200, reply_text: str = "Normal shutdown"
    ) -> "defer.Deferred[BaseException]":
        """Close the connection (channels first, consumers cancelled) and return
        :attr:`closed`, which fires with ``ConnectionClosedByClient`` once done (or with
        ``ConnectionOpenAborted`` when called while opening). A call while the connection is
        closing or closed just returns :attr:`closed`; bad arguments give a failed Deferred."""
        self._use()
        impl = self.impl
        if not (impl.is_closing or impl.is_closed):
            try:
                impl.close(reply_code, reply_text)
            except Exception as error:  # noqa: BLE001 - reported through the Deferred
                return defer.fail(error)
        return self.closed

    # ----------------------------------------------------------------------------------------
    # Callbacks from the TwistedConnection
    # ----------------------------------------------------------------------------------------

    def _on_open(self, _connection: Any) -> None:
        self._ready.succeed(self.connectionReady())

    def _on_open_error(self, _connection: Any, error: BaseException) -> None:
        # State first: user code resumed by ``ready`` failing may call channel() at once.
        self._end_reason = error
        self._ready.fail(error)
        self._end(error)

    def _on_close(self, _connection: Any, reason: BaseException) -> None:
        # Every channel has been told first (its Deferreds failed, its opening Deferred too).
        self._end_reason = reason
        opens, self._channel_opens = self._channel_opens, set()
        for deferred in list(opens):
            fail_with(deferred, reason)
        self._end(reason)

    def _end(self, reason: BaseException) -> None:
        outcome, self._next_recovery = self._next_recovery, None
        if outcome is not None:
            outcome.fail(reason)
        if isinstance(reason, _CLIENT_CLOSES):
            self._closed.succeed(reason)
        else:
            self._closed.fail(reason)
