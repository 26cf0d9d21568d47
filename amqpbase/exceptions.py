"""The one exception hierarchy shared by every adapter (internals.md rule 6).

Names and constructor signatures follow pika 1.x so that code catching pika's exceptions ports
with an import change. Where pika is vague about *why* a connection could not be opened, this
module adds precise subclasses of :class:`AMQPConnectionError` (refused TCP connection, name
resolution failure, socket timeout, stack timeout, TLS handshake failure) so the same failure
gives the same class and fields on select, Tornado and Twisted.
"""

from __future__ import annotations

from typing import Any, Sequence


class AMQPError(Exception):
    """Root of every error raised or reported by amqpbase."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: {self.args!r}"


class _CarriesReply:
    """Mixin for errors that carry an AMQP reply: ``args == (reply_code, reply_text)``."""

    args: tuple[Any, ...]

    def __init__(self, reply_code: int, reply_text: str) -> None:
        super().__init__(int(reply_code), str(reply_text))  # type: ignore[call-arg]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: ({self.reply_code}) {self.reply_text!r}"

    @property
    def reply_code(self) -> int:
        return int(self.args[0])

    @property
    def reply_text(self) -> str:
        return str(self.args[1])


# --------------------------------------------------------------------------------------------
# Connection-level errors
# --------------------------------------------------------------------------------------------


class AMQPConnectionError(AMQPError):
    """The connection could not be opened or was lost."""


class ConnectionOpenAborted(AMQPConnectionError):
    """The user closed the connection while it was still opening."""


class StreamLostError(AMQPConnectionError):
    """The TCP/TLS stream was lost; the OS-level cause is chained as ``__cause__``."""


class NameResolutionError(AMQPConnectionError):
    """DNS resolution of the configured host failed (``socket.gaierror`` chained)."""


class TCPConnectionRefusedError(AMQPConnectionError):
    """Every resolved address refused the TCP connection (ECONNREFUSED)."""


class SocketConnectError(AMQPConnectionError):
    """The TCP connection failed for another OS-level reason (unreachable, reset, ...)."""


class SocketTimeoutError(AMQPConnectionError):
    """The TCP (and TLS) connection was not established within ``socket_timeout``."""


class StackTimeoutError(AMQPConnectionError):
    """The whole open (TCP + TLS + AMQP handshake) exceeded ``stack_timeout``."""


class TLSHandshakeError(AMQPConnectionError):
    """The TLS handshake failed (bad certificate, wrong CA, hostname mismatch, ...)."""


class IncompatibleProtocolError(AMQPConnectionError):
    """The server answered with a protocol header or frame the client cannot speak."""


class AuthenticationError(AMQPConnectionError):
    """Server and client could not agree on an authentication mechanism.

    ``args[0]`` is the mechanism the client wanted (pika compatibility).
    """


class ProbableAuthenticationError(_CarriesReply, AMQPConnectionError):
    """The broker refused the credentials.

    With ``authentication_failure_close`` (which amqpbase always advertises) RabbitMQ sends
    Connection.Close 403 ACCESS_REFUSED with its own text; :attr:`reply_code` and
    :attr:`reply_text` carry exactly what the broker said. (A broker that just drops the socket
    instead is reported as ``StreamLostError`` naming the handshake phase: amqpbase does not
    guess that a dropped socket meant a refused login.)
    """


class ProbableAccessDeniedError(_CarriesReply, AMQPConnectionError):
    """The broker refused access to the virtual host (Connection.Close 530 NOT_ALLOWED).

    :attr:`reply_code` and :attr:`reply_text` are the broker's own.
    """


class NoFreeChannels(AMQPConnectionError):
    """Every channel number up to the negotiated channel_max is in use."""


class ConnectionWrongStateError(AMQPConnectionError):
    """The operation is not allowed in the connection's current state."""


class WrongThreadError(AMQPError, RuntimeError):
    """A Connection or Channel was called from a thread other than its loop's. Neither is
    thread-safe; ``connection.add_callback_threadsafe(callback)`` is the way in from another
    thread (the callback then runs on the loop thread)."""


class ConnectionClosed(_CarriesReply, AMQPConnectionError):
    """A fully open connection was closed; carries the Connection.Close reply code and text."""


class ConnectionClosedByBroker(ConnectionClosed):
    """The broker sent Connection.Close."""


class ConnectionClosedByClient(ConnectionClosed):
    """The client closed the connection with ``Connection.close()``. (A protocol error the
    client found in the broker's frames is reported as that ``ProtocolSyntaxError``.)"""


class ConnectionBlockedTimeout(AMQPConnectionError):
    """The broker kept the connection blocked longer than ``blocked_connection_timeout``."""


class AMQPHeartbeatTimeout(AMQPConnectionError):
    """Nothing was received from the broker for two heartbeat intervals."""


# Automatic recovery (issue 12, ``amqpbase.recovery``)


class RecoveryFailedError(AMQPConnectionError):
    """Automatic recovery gave up (``max_cycles`` or ``give_up_after`` reached, or
    ``should_recover`` said no): the connection is closed for good. ``__cause__`` is the last
    attempt's error; ``attempts`` counts the failed attempts, ``cycles`` the cycles run."""

    def __init__(self, text: str, attempts: int = 0, cycles: int = 0) -> None:
        super().__init__(text)
        self.attempts = attempts
        self.cycles = cycles


class ConnectionRecoveringError(ConnectionWrongStateError):
    """The connection is recovering: the call is refused (nothing is buffered for later)."""


# --------------------------------------------------------------------------------------------
# Channel-level errors
# --------------------------------------------------------------------------------------------


class AMQPChannelError(AMQPError):
    """Channel-level error."""


class ChannelWrongStateError(AMQPChannelError):
    """The operation is not allowed in the channel's current state."""


class ChannelClosed(_CarriesReply, AMQPChannelError):
    """The channel was closed; carries the Channel.Close reply code and text."""


class ChannelClosedByBroker(ChannelClosed):
    """The broker sent Channel.Close."""


class ChannelClosedByClient(ChannelClosed):
    """The client closed the channel."""


class DuplicateConsumerTag(AMQPChannelError):
    """``basic_consume`` was given a consumer tag already in use on this channel."""


class ConsumerCancelled(AMQPChannelError):
    """The broker cancelled the consumer (Basic.Cancel, e.g. its queue was deleted)."""


class ConsumerRecoveryFailedError(ConsumerCancelled):
    """A consumer could not be resumed after a recovery (its queue is gone, say): it is
    cancelled for good; ``consumer_tag`` names it, ``__cause__`` says why."""

    def __init__(self, consumer_tag: str, text: str = "") -> None:
        super().__init__(text or f"consumer {consumer_tag!r} could not be resumed")
        self.consumer_tag = consumer_tag


class ChannelRecoveringError(ChannelWrongStateError):
    """The channel's connection is recovering: the call is refused (nothing is buffered)."""


class StaleDeliveryTagError(ChannelWrongStateError):
    """An ack, nack or reject named a delivery tag of an earlier incarnation of the channel
    (before a recovery): its message went back to the queue when the old link died, so
    nothing was sent (the broker would close the channel with 406 for an unknown tag)."""


class ConfirmLostError(AMQPChannelError):
    """The link dropped before the broker confirmed these publishes (``delivery_tags``, in the
    channel's own numbering): they may or may not have reached the queue. Never retried
    implicitly."""

    def __init__(self, delivery_tags: Sequence[int], text: str = "") -> None:
        super().__init__(text or f"{len(delivery_tags)} publish confirm(s) lost with the link")
        self.delivery_tags = list(delivery_tags)


class TopologyRecoveryError(AMQPChannelError):
    """An entity (exchange, queue, binding, QoS, mode) could not be restored after a
    recovery; ``entity`` describes it, ``__cause__`` is the broker's refusal."""

    def __init__(self, text: str, entity: Any = None) -> None:
        super().__init__(text)
        self.entity = entity


class OperationInterruptedError(AMQPChannelError):
    """A synchronous request was in flight when the link dropped: its reply will never come
    (the request may or may not have taken effect on the broker)."""


class UnroutableError(AMQPChannelError):
    """One or more mandatory messages were returned by the broker (Basic.Return)."""

    def __init__(self, messages: Sequence[Any]) -> None:
        super().__init__(f"{len(messages)} unroutable message(s) returned")
        self.messages = messages


class NackError(AMQPChannelError):
    """One or more published messages were nacked by the broker (Basic.Nack)."""

    def __init__(self, messages: Sequence[Any]) -> None:
        super().__init__(f"{len(messages)} message(s) NACKed")
        self.messages = messages


class InvalidChannelNumber(AMQPError, ValueError):
    """An explicit channel number is out of range (1..channel_max) or already in use.

    Also a ``ValueError``: it is a bad argument value, caught before anything is sent.
    """


# --------------------------------------------------------------------------------------------
# Protocol errors found in what the peer sent. Each carries the AMQP reply code the client
# uses in the Connection.Close it sends (AMQP 0-9-1 section 4.2.x and the reply-code table).
# --------------------------------------------------------------------------------------------


class ProtocolSyntaxError(AMQPError):
    """The peer sent something that violates AMQP 0-9-1.

    :attr:`reply_code` is the AMQP reply code the client closes the connection with.
    """

    reply_code: int = 502  # SYNTAX_ERROR

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)


class UnexpectedFrameError(ProtocolSyntaxError):
    """A frame arrived that is not allowed here (505 UNEXPECTED_FRAME)."""

    reply_code = 505


class CommandInvalidError(ProtocolSyntaxError):
    """A well-formed method arrived where the protocol does not allow it (503 COMMAND_INVALID)."""

    reply_code = 503


class ProtocolVersionMismatch(ProtocolSyntaxError):
    """The server answered our protocol header with a different protocol header."""

    reply_code = 505


class BodyTooLongError(ProtocolSyntaxError):
    """Body frames carried more bytes than the content header announced (505)."""

    reply_code = 505


class InvalidFrameError(ProtocolSyntaxError):
    """Malformed frame: bad frame-end octet, unknown type, oversized, truncated (501)."""

    reply_code = 501


class NotAMQPStreamError(InvalidFrameError):
    """The peer's first bytes are neither a frame nor a protocol header (501): it does not
    speak AMQP (an HTTP server, a wrong port). The connection reports it to the open-error
    callback as the cause of an :class:`IncompatibleProtocolError`."""


class InvalidFieldTypeException(ProtocolSyntaxError):
    """A field table holds a type tag this codec does not know (502)."""

    reply_code = 502


class UnsupportedAMQPFieldException(ProtocolSyntaxError, ValueError):
    """A Python value cannot be encoded as an AMQP field value (also a ``ValueError``, like
    :class:`ShortStringTooLong`: it is a bad argument, refused before anything is sent)."""

    reply_code = 502


class ChannelNotOpenError(ProtocolSyntaxError):
    """The peer sent a frame for a channel that is not open (504 CHANNEL_ERROR)."""

    reply_code = 504


class MethodNotImplemented(AMQPError):
    """The peer sent a class/method id this client does not implement (540)."""

    reply_code = 540


class ChannelError(Exception):
    """Misuse of the channel API (pika compatibility)."""


class ReentrancyError(Exception):
    """A call was made re-entrantly where that is not allowed."""


class ShortStringTooLong(AMQPError, ValueError):
    """A shortstr argument encodes to more than 255 bytes (also a ``ValueError``: it is a bad
    argument, refused before anything is sent)."""


class DuplicateGetOkCallback(ChannelError):
    """``basic_get`` was called while another ``basic_get`` is pending on this channel."""


class InvalidMinimumFrameSize(ProtocolSyntaxError):
    """frame_max below the AMQP minimum of 4096 (FRAME_MIN_SIZE)."""


class InvalidMaximumFrameSize(ProtocolSyntaxError):
    """frame_max above the AMQP maximum of 2**32 - 1."""


# --------------------------------------------------------------------------------------------
# Connection workflow (create_connection). Names follow pika.adapters.utils.connection_workflow
# so code written against pika's workflow ports unchanged.
# --------------------------------------------------------------------------------------------


class AMQPConnectorException(Exception):
    """Base of the connection-workflow errors."""


class AMQPConnectorStackTimeout(AMQPConnectorException):
    """Kept for pika compatibility; amqpbase reports :class:`StackTimeoutError` instead."""


class AMQPConnectorAborted(AMQPConnectorException):
    """The connector was aborted."""


class AMQPConnectorWrongState(AMQPConnectorException):
    """A connector operation was called in the wrong state."""


class AMQPConnectorPhaseErrorBase(AMQPConnectorException):
    """A phase of one connection attempt failed; :attr:`exception` is the precise cause."""

    def __init__(self, exception: BaseException, *args: Any) -> None:
        super().__init__(*args)
        self.exception = exception

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: {self.exception!r}; {self.args!r}"


class AMQPConnectorSocketConnectError(AMQPConnectorPhaseErrorBase):
    """TCP connection (or name resolution) failed."""


class AMQPConnectorTransportSetupError(AMQPConnectorPhaseErrorBase):
    """Transport set-up (TLS handshake) failed."""


class AMQPConnectorAMQPHandshakeError(AMQPConnectorPhaseErrorBase):
    """The AMQP handshake failed (authentication, vhost, protocol, timeout)."""


class AMQPConnectionWorkflowAborted(AMQPConnectorException):
    """The whole workflow was aborted by the user."""


class AMQPConnectionWorkflowWrongState(AMQPConnectorException):
    """A workflow operation was called in the wrong state."""


class AMQPConnectionWorkflowFailed(AMQPConnectorException):
    """Every attempt failed; :attr:`exceptions` lists each attempt's cause, in order."""

    def __init__(self, exceptions: Sequence[BaseException], *args: Any) -> None:
        super().__init__(*args)
        self.exceptions = tuple(exceptions)

    def __repr__(self) -> str:
        causes = "; ".join(repr(e) for e in self.exceptions)
        return f"{self.__class__.__name__}: {len(self.exceptions)} attempt(s) failed: {causes}"

    __str__ = __repr__
