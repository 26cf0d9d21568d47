"""Inbound dispatch: the frames the decoder parsed, routed to their channel or to channel 0.

:func:`dispatch` is what ``Connection._on_data_available`` calls once per batch from
``FrameDecoder.feed_batches`` (at most 64 frames): a frame for channel N goes to
``channel._handle_frame`` (a ``frame.Delivery`` too, as one frame), a frame for channel 0 to
:func:`handle_connection_frame`, which hands the handshake and close methods to
``_opening``/``_closing`` (the :data:`METHOD_HANDLERS` table) and handles Blocked/Unblocked
and UpdateSecretOk itself.

Rules kept here: after our Connection.Close, everything but Connection.Close/CloseOk is
dropped (AMQP 0-9-1 2.2.4); a frame for a channel number the broker closed may still be in
flight and is dropped (:func:`discard_stale`); a frame for a number never opened, or an
unexpected method on channel 0, is a protocol error that closes the connection with its
reply code.

These functions are friends of :class:`~amqpbase.connection.Connection` and use its private
state; nothing else should.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from amqpbase import _closing, _opening, exceptions, frame, spec
from amqpbase._callbacks import invoke
from amqpbase.connection_state import ConnectionState

if TYPE_CHECKING:  # pragma: no cover
    from amqpbase.channel import Channel
    from amqpbase.connection import Connection

LOGGER = logging.getLogger("amqpbase.connection")


def dispatch(connection: "Connection", frames: List[Any]) -> bool:
    """Hand each frame to its channel or to the connection. Returns False when a frame
    broke the protocol or the connection stopped reading (the rest is dropped)."""
    channels = connection._channels
    stale = connection._stale_channels
    for inbound in frames:
        number = inbound.channel_number
        try:
            if number:
                channel = channels.get(number)
                if stale and number in stale and discard_stale(connection, inbound, channel):
                    continue
                if channel is not None:
                    if not connection._close_sent:
                        connection._channel_link.handlers[number].on_inbound(inbound)  # TEMP-SHIM
                elif not connection._close_sent:
                    first = inbound.frames()[0] if type(inbound) is frame.Delivery else inbound
                    raise exceptions.ChannelNotOpenError(
                        f"{type(first).__name__} frame for channel {number}, which is not open"
                    )
            else:
                handle_connection_frame(connection, inbound)
        except (exceptions.ProtocolSyntaxError, exceptions.MethodNotImplemented) as exc:
            _closing.on_protocol_error(connection, exc, stream_desynchronised=False)
            return False
        if connection._discard_input:
            return False
    return True


def discard_stale(connection: "Connection", inbound: Any, channel: Optional["Channel"]) -> bool:
    """True when ``inbound`` (for a channel number in ``_stale_channels``) is a frame the
    broker sent on a channel it had closed, to be dropped.

    RabbitMQ goes on sending what was in flight on a channel after its own Channel.Close
    (deliveries already routed to the channel's consumers, confirms): those frames can
    arrive after our Channel.CloseOk, even after we sent Channel.Open for the same number.
    They are stale, not a protocol violation (pika ignores them too); closing the whole
    connection with 504 would take every other channel down. The number stays stale
    until its next Channel.OpenOk; frames for numbers never opened are still a 504."""
    if channel is not None and not channel.is_opening:
        connection._stale_channels.discard(channel.channel_number)
        return False
    if (channel is not None and type(inbound) is frame.Method
            and type(inbound.method) is spec.Channel.OpenOk):
        connection._stale_channels.discard(channel.channel_number)
        return False
    LOGGER.debug("Discarding %r: its channel was closed by the broker", inbound)
    return True


def handle_connection_frame(connection: "Connection", inbound: Any) -> None:
    """A frame on channel 0: heartbeats are only counted (as bytes received), a protocol
    header is the broker refusing our version, methods go to :data:`METHOD_HANDLERS`."""
    if isinstance(inbound, frame.Heartbeat):
        return
    if isinstance(inbound, frame.ProtocolHeader):
        if connection._state is ConnectionState.PROTOCOL:
            _closing.fail_handshake(
                connection,
                exceptions.IncompatibleProtocolError(
                    f"broker speaks AMQP {inbound.major}-{inbound.minor}-"
                    f"{inbound.revision}, not 0-9-1"
                ),
            )
            return
        raise exceptions.UnexpectedFrameError("protocol header in the middle of the stream")
    if not isinstance(inbound, frame.Method):
        raise exceptions.UnexpectedFrameError(
            f"{type(inbound).__name__} frame on channel 0 (content belongs on a channel)"
        )
    method = inbound.method
    if connection._close_sent and not isinstance(
        method, (spec.Connection.Close, spec.Connection.CloseOk)
    ):
        return  # AMQP 0-9-1 2.2.4: after sending Close, discard all but Close/CloseOk
    handler = METHOD_HANDLERS.get(type(method))
    if handler is None:
        raise exceptions.CommandInvalidError(f"unexpected {method.NAME} on channel 0")
    handler(connection, inbound)


def on_connection_blocked(connection: "Connection", inbound: frame.Method) -> None:
    """RabbitMQ's Connection.Blocked: start the ``blocked_connection_timeout`` timer (once
    per blocked period) and tell the blocked callbacks."""
    LOGGER.warning("Connection blocked by the broker: %s", inbound.method.reason)
    timeout = connection.params.blocked_connection_timeout
    if timeout is not None and connection._blocked_timer is None:
        connection._blocked_timer = connection._adapter_call_later(
            timeout, lambda: _closing.on_blocked_timeout(connection)
        )
    for callback in list(connection._blocked_callbacks):
        invoke(callback, connection, inbound)


def on_connection_unblocked(connection: "Connection", inbound: frame.Method) -> None:
    """RabbitMQ's Connection.Unblocked: stop the blocked timer, tell the unblocked callbacks."""
    LOGGER.info("Connection unblocked by the broker")
    connection._cancel_timer("_blocked_timer")
    for callback in list(connection._unblocked_callbacks):
        invoke(callback, connection, inbound)


def on_update_secret_ok(connection: "Connection", inbound: frame.Method) -> None:
    """Connection.UpdateSecretOk answers the oldest UpdateSecret still unanswered."""
    if not connection._update_secret_callbacks:
        raise exceptions.CommandInvalidError("UpdateSecretOk without an UpdateSecret")
    callback = connection._update_secret_callbacks.pop(0)
    if callback is not None:
        invoke(callback, inbound)


#: The channel-0 methods a client accepts from the broker, and who handles each.
METHOD_HANDLERS: Dict[type, Callable[["Connection", frame.Method], None]] = {
    spec.Connection.Start: _opening.on_start,
    spec.Connection.Secure: _opening.on_secure,
    spec.Connection.Tune: _opening.on_tune,
    spec.Connection.OpenOk: _opening.on_open_ok,
    spec.Connection.Close: _closing.on_connection_close,
    spec.Connection.CloseOk: _closing.on_connection_close_ok,
    spec.Connection.Blocked: on_connection_blocked,
    spec.Connection.Unblocked: on_connection_unblocked,
    spec.Connection.UpdateSecretOk: on_update_secret_ok,
}
