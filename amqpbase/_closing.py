"""Closing a connection: Connection.Close/CloseOk (AMQP 0-9-1 2.2.4), protocol errors found
in the broker's frames, the close deadline, heartbeat/blocked/stack timeouts, and the final
settling of channels and callbacks.

These functions are friends of :class:`~amqpbase.connection.Connection` and use its private
state; nothing else should. The first recorded cause of a close wins
(``Connection._record_close_reason``) and is what every channel and callback is told.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from amqpbase import exceptions, frame, spec
from amqpbase._callbacks import invoke
from amqpbase.connection_state import ConnectionState, expect_state

if TYPE_CHECKING:  # pragma: no cover
    from amqpbase.connection import Connection

LOGGER = logging.getLogger("amqpbase.connection")

#: States in which the peer has seen Connection.Start, so a Connection.Close may be sent.
CAN_SEND_CLOSE = frozenset(
    {ConnectionState.START, ConnectionState.TUNE, ConnectionState.OPEN, ConnectionState.CLOSING}
)


def short_text(text: str) -> str:
    """``text`` made safe for a shortstr: at most 255 UTF-8 bytes, and no lone surrogates
    (an error message may quote a broker string decoded with surrogate escapes)."""
    encoded = text.encode("utf-8", errors="backslashreplace")[:255]
    return encoded.decode("utf-8", errors="ignore")


def on_connection_close(connection: "Connection", inbound: frame.Method) -> None:
    """The broker sent Connection.Close: reply CloseOk, record why, drop the stream. During
    the handshake the broker's code names the failure (403 login, 530 vhost)."""
    method = inbound.method
    code, text = method.reply_code, method.reply_text
    state = connection._state
    if state in (ConnectionState.START, ConnectionState.TUNE):
        # authentication_failure_close: RabbitMQ explains a refused login (403) or vhost
        # (530 NOT_ALLOWED) with Connection.Close instead of just dropping the socket.
        error: BaseException
        if code == spec.ACCESS_REFUSED:
            error = exceptions.ProbableAuthenticationError(code, text)
        elif code == spec.NOT_ALLOWED:
            error = exceptions.ProbableAccessDeniedError(code, text)
        else:
            error = exceptions.ConnectionClosedByBroker(code, text)
    else:
        error = exceptions.ConnectionClosedByBroker(code, text)
        if connection._close_reason is None:
            LOGGER.warning("Broker closed the connection (%s): %s", code, text)
    connection._record_close_reason(error)
    # Reply CloseOk even if we sent our own Close (the close methods crossed).
    if not connection._close_sent:
        connection._send_method(0, spec.Connection.CloseOk())
    connection._close_sent = True
    if connection._state is not ConnectionState.CLOSING:
        connection._set_state(ConnectionState.CLOSING)
    connection._adapter_disconnect_stream()


def on_connection_close_ok(connection: "Connection", inbound: frame.Method) -> None:
    """Our Connection.Close was answered: the stream can go."""
    expect_state(connection.state, inbound.method, ConnectionState.CLOSING)
    connection._adapter_disconnect_stream()


def send_connection_close(connection: "Connection") -> None:
    code, text = connection._client_close_args or (200, "Normal shutdown")
    connection._send_method(
        0, spec.Connection.Close(reply_code=code, reply_text=text, class_id=0, method_id=0)
    )
    connection._close_sent = True


def start_close_timer(connection: "Connection") -> None:
    if connection._close_timer is None:
        connection._close_timer = connection._adapter_call_later(
            connection.close_timeout, lambda: on_close_timeout(connection)
        )


def on_close_timeout(connection: "Connection") -> None:
    connection._close_timer = None
    LOGGER.warning(
        "No Connection.CloseOk within %.1fs; dropping the stream", connection.close_timeout
    )
    connection._adapter_disconnect_stream()


def on_protocol_error(
    connection: "Connection", error: BaseException, stream_desynchronised: bool
) -> None:
    """The broker broke the protocol: close with the error's AMQP reply code.

    After a framing error the stream cannot be parsed any more: the broker's Close-Ok could
    not be recognised in it, so waiting ``close_timeout`` for one would only delay the report
    (RabbitMQ itself waits 30 s for the client to hang up). The Close is sent, given the
    adapter's last write attempt, and the stream is dropped at once."""
    code = getattr(error, "reply_code", spec.SYNTAX_ERROR)
    LOGGER.error("Protocol error from broker (%s): %s", code, error)
    connection._record_close_reason(error)
    if stream_desynchronised:
        connection._discard_input = True
    if connection._state in CAN_SEND_CLOSE and connection._stream_up and not connection._close_sent:
        connection._client_close_args = (code, short_text(str(error) or type(error).__name__))
        if connection._state is not ConnectionState.CLOSING:
            connection._set_state(ConnectionState.CLOSING)
        send_connection_close(connection)
        if stream_desynchronised:
            connection._adapter_disconnect_stream()
        else:
            start_close_timer(connection)
    else:
        # No Close can be sent (before Connection.Start the peer has not shown it speaks
        # AMQP 0-9-1; or our Close is already out): drop the stream and ignore what is still
        # arriving, which would otherwise be parsed and could make us send a Close after all
        # (with another error's reply code) to a peer we are hanging up on.
        connection._discard_input = True
        if connection._state is not ConnectionState.CLOSING:
            connection._set_state(ConnectionState.CLOSING)
        connection._adapter_disconnect_stream()


def fail_handshake(connection: "Connection", error: BaseException) -> None:
    """Give up this open attempt: record the cause, ignore further input, drop the stream."""
    connection._record_close_reason(error)
    connection._discard_input = True
    connection._set_state(ConnectionState.CLOSING)
    connection._adapter_disconnect_stream()


def on_blocked_timeout(connection: "Connection") -> None:
    connection._blocked_timer = None
    timeout = connection.params.blocked_connection_timeout
    error = exceptions.ConnectionBlockedTimeout(
        f"connection blocked by the broker for more than {timeout}s"
    )
    LOGGER.error("%s", error)
    drop_stream(connection, error)


def on_stack_timeout(connection: "Connection") -> None:
    connection._stack_timer = None
    error = exceptions.StackTimeoutError(
        f"connection to {connection.params.host}:{connection.params.port} not open within "
        f"stack_timeout={connection.params.stack_timeout}s (stuck in {connection._state.name})"
    )
    drop_stream(connection, error)


def drop_stream(connection: "Connection", error: BaseException) -> None:
    """Tear the stream down without an AMQP close (the peer is dead or unresponsive)."""
    connection._record_close_reason(error)
    if connection._state is not ConnectionState.CLOSING:
        connection._set_state(ConnectionState.CLOSING)
    connection._discard_input = True
    connection._adapter_disconnect_stream()


def finish_close(connection: "Connection", reason: BaseException) -> None:
    """A connection that was open is now closed: tell every channel, then the user."""
    channels = list(connection._channels.values())
    connection._channels.clear()
    connection._closing_channels.clear()
    for channel in channels:
        handlers = connection._channel_link.handlers[channel.channel_number]  # TEMP-SHIM
        handlers.on_connection_closed(reason)  # TEMP-SHIM
    if connection._update_secret_callbacks:
        LOGGER.debug("Connection closed with an UpdateSecret unanswered (%r)", reason)
    connection._update_secret_callbacks.clear()
    LOGGER.info("Connection closed: %r", reason)
    for callback in list(connection._on_close_callbacks):
        invoke(callback, connection, reason)
