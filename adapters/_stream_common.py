"""What the three stream transports share: how a stream's life is tracked and ended, and how a
failed connect is reported.

``select/transport.py`` (``SocketTransport``), ``tornado/transport.py`` (``StreamTransport``)
and ``twisted/_stream.py`` (``TwistedStream``) each hold one TCP/TLS stream at a time for a
base ``Connection``. They connect, read and write in their loop's own way; what is here is the
part that must be the same on every loop, so that all three report the same error classes with
the same texts (the conformance suite compares them):

* :class:`StreamLifecycle`, the base class of the three: ``state``, driven by one transition
  table (an event the table does not list for the current state raises ``RuntimeError``;
  ``can(event)`` asks first); ``start_attempt(params)``, the start of every ``connect()``;
  ``where()``, the ``host:port`` every message starts with; ``lose_stream(exc)``, a
  ``StreamLostError`` with the OS error chained (a ``ConnectionError`` naming the end of stream
  when the peer closed); ``fail(error, cause)``, teardown then the one
  ``_on_stream_terminated(error)``; ``notify_disconnected()``, the ``_on_stream_terminated(None)``
  that follows a disconnect. Each transport passes its table and implements ``teardown()``.
* :class:`AddressByAddressStream`, the base class of the select and Twisted transports, which
  resolve, connect address by address and do the TLS handshake as steps of their own, with
  the states :class:`StreamState` and the table :data:`STREAM_TRANSITIONS`: the resolver's
  result (``NameResolutionError``, or the addresses to try in order), and the connect error
  once every address failed. Tornado's ``TCPClient`` does all of it in one task, so the
  Tornado transport has a smaller table of its own.
* :func:`connect_failure` and :func:`connect_error`: the connect error (refused, timed out,
  other) for what the addresses of an attempt failed with, and its cause.
"""

from __future__ import annotations

import abc
import enum
import errno
import socket
from typing import Any, Dict, Generic, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from amqpbase import exceptions
from amqpbase.connection import Connection

StateT = TypeVar("StateT", bound=enum.Enum)
#: A connect error and the error to chain to it as ``__cause__``.
ConnectFailure = Tuple[exceptions.AMQPConnectionError, Optional[BaseException]]

_END_OF_STREAM = "end of stream: the peer closed the connection"


class StreamLifecycle(abc.ABC, Generic[StateT]):
    """The stream's state and the ways a stream ends, for ``connection`` (see the module
    docstring). ``params`` is set by ``start_attempt()``; until then ``where()`` is ``"?"``.
    ``attempt`` is the identity of the connect attempt in flight: results of an older one
    (``attempt`` no longer theirs) are ignored; ``teardown()`` sets it to ``None``."""

    def __init__(
        self,
        connection: Connection,
        transitions: Mapping[Tuple[StateT, str], StateT],
        state: StateT,
    ) -> None:
        self.conn = connection
        self.transitions = transitions
        self.state = state
        self.params: Any = None
        self.attempt: Optional[object] = None

    @abc.abstractmethod
    def teardown(self) -> None:
        """Forget the stream and everything of it in flight (connect, timers, socket, queue);
        report nothing."""

    def start_attempt(self, params: Any) -> object:
        """The start of ``connect(params)``: only from a state with a ``connect`` event (else
        ``RuntimeError``); returns the new attempt's identity."""
        self.transition("connect")
        self.params = params
        attempt = self.attempt = object()
        return attempt

    def can(self, event: str) -> bool:
        """Whether ``event`` is legal now (``disconnect``: a stream or a connect is in
        progress; a repeat, or a disconnect after the stream ended, is not)."""
        return (self.state, event) in self.transitions

    def transition(self, event: str) -> None:
        try:
            self.state = self.transitions[(self.state, event)]
        except KeyError:
            raise RuntimeError(
                f"stream event {event!r} is illegal in state {self.state.name}"
            ) from None

    def where(self) -> str:
        return f"{self.params.host}:{self.params.port}" if self.params is not None else "?"

    def lose_stream(self, exc: Optional[BaseException]) -> None:
        """The open stream broke (``exc``) or the peer closed it (``None``)."""
        cause = exc if exc is not None else ConnectionError(_END_OF_STREAM)
        self.fail(exceptions.StreamLostError(f"{self.where()}: stream lost: {cause}"), cause)

    def fail(self, error: exceptions.AMQPConnectionError, cause: Optional[BaseException]) -> None:
        error.__cause__ = cause
        self.teardown()
        self.transition("fail")
        self.conn._on_stream_terminated(error)

    def notify_disconnected(self) -> None:
        self.transition("closed")
        self.conn._on_stream_terminated(None)


class StreamState(enum.Enum):
    """Where the one stream of a select or Twisted transport is (its ``state``)."""

    IDLE = "idle"  # no stream: connect() may be called
    RESOLVING = "resolving"  # getaddrinfo() running off the loop thread
    CONNECTING = "connecting"  # TCP connect, one address after another
    HANDSHAKING = "handshaking"  # TLS handshake
    OPEN = "open"  # _on_stream_connected() was called
    CLOSING = "closing"  # disconnected; _on_stream_terminated(None) is scheduled


_S = StreamState
#: The states with a stream or a connect in progress: they can fail or be disconnected.
_ACTIVE = (_S.RESOLVING, _S.CONNECTING, _S.HANDSHAKING, _S.OPEN)
#: The one transition table of the select and Twisted transports.
STREAM_TRANSITIONS: Dict[Tuple[StreamState, str], StreamState] = {
    (_S.IDLE, "connect"): _S.RESOLVING,
    (_S.RESOLVING, "resolved"): _S.CONNECTING,
    (_S.CONNECTING, "tls"): _S.HANDSHAKING,
    (_S.CONNECTING, "up"): _S.OPEN,
    (_S.HANDSHAKING, "up"): _S.OPEN,
    **{(state, "fail"): _S.IDLE for state in _ACTIVE},
    **{(state, "disconnect"): _S.CLOSING for state in _ACTIVE},
    (_S.CLOSING, "closed"): _S.IDLE,
}


class AddressByAddressStream(StreamLifecycle[StreamState]):
    """A transport that resolves off the loop, then tries each address in order (select,
    Twisted). Its ``connect()`` starts the resolver, which answers ``on_resolved()``; it
    implements ``connect_next()``."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection, STREAM_TRANSITIONS, StreamState.IDLE)
        self.addresses: List[Tuple[Any, ...]] = []  # getaddrinfo() entries not tried yet
        self.errors: List[Tuple[Any, OSError]] = []  # (sockaddr, error) per failed address

    @abc.abstractmethod
    def connect_next(self) -> None:
        """Connect to the next of ``addresses`` (a failure is appended to ``errors``, then the
        next one is tried); with none left, ``connect_failed()``."""

    def on_resolved(
        self, attempt: object, result: Union[Sequence[Tuple[Any, ...]], BaseException, None]
    ) -> None:
        """``getaddrinfo()``'s entries, or its error, for connect attempt ``attempt``; no
        entries at all is a ``NameResolutionError`` too."""
        if attempt is not self.attempt:
            return  # disconnected meanwhile
        if isinstance(result, BaseException) or not result:
            cause = result if isinstance(result, BaseException) else None
            self.fail(
                exceptions.NameResolutionError(f"{self.where()}: cannot resolve: {result}"), cause
            )
            return
        self.transition("resolved")
        self.addresses, self.errors = list(result), []
        self.connect_next()

    def connect_failed(self) -> None:
        """No address is left to try: report what each one failed with."""
        self.fail(*connect_failure(self.where(), self.errors))


def connect_failure(where: str, errors: Sequence[Tuple[Any, BaseException]]) -> ConnectFailure:
    """The connect error of an attempt that tried its addresses one after the other and failed
    on each: ``errors`` holds ``(sockaddr, error)`` in order. The message lists them all
    (``"no address"`` when there were none)."""
    tried = "; ".join(f"{addr[0]}:{addr[1]}: {exc}" for addr, exc in errors) or "no address"
    return connect_error(where, tried, [exc for _, exc in errors])


def connect_error(
    where: str, detail: str, errors: Sequence[BaseException]
) -> ConnectFailure:
    """The connect error for an attempt whose addresses failed with ``errors`` (in order),
    ``detail`` in parentheses after the message, and its cause:

    * every address refused: ``TCPConnectionRefusedError``, cause the last refusal;
    * else one timed out (``socket.timeout``, which an OS ``ETIMEDOUT`` also is):
      ``SocketTimeoutError``, cause the last timeout;
    * else ``SocketConnectError``, cause the last error (``None`` without any).

    The same on every loop (DESIGN.md rule 6): an ``ETIMEDOUT`` from the kernel is a timeout
    whichever adapter saw it.
    """
    if errors and all(_refused(exc) for exc in errors):
        refused = exceptions.TCPConnectionRefusedError(f"{where}: connection refused ({detail})")
        return refused, errors[-1]
    expired = [exc for exc in errors if isinstance(exc, socket.timeout)]
    if expired:
        return exceptions.SocketTimeoutError(f"{where}: connect timed out ({detail})"), expired[-1]
    cause = errors[-1] if errors else None
    return exceptions.SocketConnectError(f"{where}: cannot connect ({detail})"), cause


def _refused(exc: BaseException) -> bool:
    # An OSError made from errno ECONNREFUSED is a ConnectionRefusedError (PEP 3151); either
    # test alone would do for what the adapters pass (the select and Tornado adapters asked
    # for the errno, the Twisted adapter for the class).
    return isinstance(exc, ConnectionRefusedError) or (
        isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED
    )


__all__ = [
    "AddressByAddressStream",
    "STREAM_TRANSITIONS",
    "StreamLifecycle",
    "StreamState",
    "connect_error",
    "connect_failure",
]
