"""The errors a transport reports, and their texts: the same failure gives the same exception
class and the same message on every loop (internals.md rule 6; the conformance suite compares
them).

Every message starts with ``where`` (``host:port`` of the attempt). The connect-error mapping
(:func:`connect_error`, :func:`connect_failure`) decides refused / timed out / other from the
OS errors of an attempt; the other functions build the one error of each kind, with its cause
chained as ``__cause__``. Nothing here does I/O or knows a loop.
"""

from __future__ import annotations

import errno
import socket
from typing import Any, Optional, Sequence, Tuple, TypeVar

from amqpbase import exceptions

#: A connect error and the error to chain to it as ``__cause__``.
ConnectFailure = Tuple[exceptions.AMQPConnectionError, Optional[BaseException]]

#: The cause of a stream the peer closed (an EOF is not an OS error, so one is made).
END_OF_STREAM = "end of stream: the peer closed the connection"


ErrorT = TypeVar("ErrorT", bound=exceptions.AMQPConnectionError)


def chained(error: ErrorT, cause: Optional[BaseException]) -> ErrorT:
    """``error`` with ``cause`` as its ``__cause__``."""
    error.__cause__ = cause
    return error


def resolve_failed(where: str, detail: Any) -> exceptions.NameResolutionError:
    """``getaddrinfo`` failed (``detail``: its error) or gave no address (``"no address"``)."""
    return exceptions.NameResolutionError(f"{where}: cannot resolve: {detail}")


def connect_timed_out(where: str, detail: Any) -> exceptions.SocketTimeoutError:
    return exceptions.SocketTimeoutError(f"{where}: connect timed out ({detail})")


def cannot_connect(where: str, detail: Any) -> exceptions.SocketConnectError:
    return exceptions.SocketConnectError(f"{where}: cannot connect ({detail})")


def timeout_cause(timeout: Optional[float]) -> socket.timeout:
    """The cause of a connect or handshake that ``socket_timeout`` cut short."""
    return socket.timeout(f"no answer within socket_timeout={timeout}s")


def tls_setup_failed(where: str, exc: BaseException) -> exceptions.TLSHandshakeError:
    """The user's ``SSLContext`` refused to wrap the socket (``wrap_socket``/``wrap_bio``)."""
    return chained(exceptions.TLSHandshakeError(f"{where}: TLS set-up failed: {exc}"), exc)


def tls_handshake_failed(where: str, exc: BaseException) -> exceptions.TLSHandshakeError:
    """The handshake failed: a certificate, an alert, the peer closing, a reset."""
    return chained(exceptions.TLSHandshakeError(f"{where}: TLS handshake failed: {exc}"), exc)


def tls_handshake_timed_out(where: str, timeout: Optional[float]) -> exceptions.SocketTimeoutError:
    """No handshake within ``socket_timeout`` (which bounds the handshake on its own)."""
    error = exceptions.SocketTimeoutError(f"{where}: TLS handshake timed out")
    return chained(error, timeout_cause(timeout))


def stream_lost(where: str, exc: Optional[BaseException]) -> exceptions.StreamLostError:
    """The open stream broke (``exc``: the OS error) or the peer closed it (``None``: a
    ``ConnectionError`` naming the end of stream is chained instead)."""
    cause = exc if exc is not None else ConnectionError(END_OF_STREAM)
    return chained(exceptions.StreamLostError(f"{where}: stream lost: {cause}"), cause)


def connect_failure(where: str, errors: Sequence[Tuple[Any, BaseException]]) -> ConnectFailure:
    """The connect error of an attempt that tried its addresses one after the other and failed
    on each: ``errors`` holds ``(sockaddr, error)`` in order. The message lists them all
    (``"no address"`` when there were none)."""
    tried = "; ".join(f"{addr[0]}:{addr[1]}: {exc}" for addr, exc in errors) or "no address"
    return connect_error(where, tried, [exc for _, exc in errors])


def connect_error(where: str, detail: str, errors: Sequence[BaseException]) -> ConnectFailure:
    """The connect error for an attempt whose addresses failed with ``errors`` (in order),
    ``detail`` in parentheses after the message, and its cause:

    * every address refused: ``TCPConnectionRefusedError``, cause the last refusal;
    * else one timed out (``socket.timeout``, which an OS ``ETIMEDOUT`` also is):
      ``SocketTimeoutError``, cause the last timeout;
    * else ``SocketConnectError``, cause the last error (``None`` without any).

    The same on every loop (internals.md rule 6): an ``ETIMEDOUT`` from the kernel is a timeout
    whichever adapter saw it.
    """
    if errors and all(_refused(exc) for exc in errors):
        refused = exceptions.TCPConnectionRefusedError(f"{where}: connection refused ({detail})")
        return refused, errors[-1]
    expired = [exc for exc in errors if isinstance(exc, socket.timeout)]
    if expired:
        return connect_timed_out(where, detail), expired[-1]
    cause = errors[-1] if errors else None
    return cannot_connect(where, detail), cause


def _refused(exc: BaseException) -> bool:
    # An OSError made from errno ECONNREFUSED is a ConnectionRefusedError (PEP 3151); either
    # test alone would do for what the transports pass (the socket transport hands OS errors,
    # Twisted's connect errors are turned into OS errors first).
    return isinstance(exc, ConnectionRefusedError) or (
        isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED
    )


__all__ = [
    "ConnectFailure",
    "END_OF_STREAM",
    "cannot_connect",
    "connect_error",
    "connect_failure",
    "connect_timed_out",
    "resolve_failed",
    "stream_lost",
    "timeout_cause",
    "tls_handshake_failed",
    "tls_handshake_timed_out",
    "tls_setup_failed",
]
