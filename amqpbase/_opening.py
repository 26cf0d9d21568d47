"""Opening a connection: attempts and retries, and the AMQP handshake (AMQP 0-9-1 2.2.4).

Protocol header → Connection.Start / StartOk (SASL PLAIN or EXTERNAL, client properties) →
Connection.Tune / TuneOk (channel_max, frame_max, heartbeat negotiation) → Connection.Open /
OpenOk (virtual host). These functions are the channel-0 handlers the base ``Connection``
dispatches to while opening, and the attempt life cycle (begin, fail-and-retry, abort). They
are friends of ``Connection`` and use its private state; nothing else should.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from amqpbase import _closing, exceptions, frame, spec
from amqpbase._callbacks import invoke
from amqpbase.connection_state import ConnectionState, expect_state
from amqpbase.heartbeat import HeartbeatChecker
from amqpbase.parameters import build_client_properties

if TYPE_CHECKING:  # pragma: no cover
    from amqpbase.connection import Connection

LOGGER = logging.getLogger("amqpbase.connection")

#: Handshake phases, with the broker method the client is waiting for in each.
WAITING_FOR = {
    ConnectionState.PROTOCOL: "Connection.Start",
    ConnectionState.START: "Connection.Tune",
    ConnectionState.TUNE: "Connection.OpenOk",
}
HANDSHAKE_STATES = frozenset(WAITING_FOR)

#: Failures that end the connect workflow at once: retrying cannot change the broker's answer.
DEFINITIVE_OPEN_ERRORS = (
    exceptions.ProbableAuthenticationError,
    exceptions.ProbableAccessDeniedError,
    exceptions.AuthenticationError,
    exceptions.IncompatibleProtocolError,
    exceptions.ConnectionOpenAborted,
    exceptions.ProtocolSyntaxError,
    exceptions.MethodNotImplemented,
    # a user heartbeat callable that raised or answered nonsense: a bug, not bad luck
    TypeError,
    ValueError,
)


def negotiate(client: int, server: int) -> int:
    """AMQP 0-9-1 Connection.Tune: 0 means "no limit"; otherwise the smaller value wins."""
    if client == 0 or server == 0:
        return max(client, server)
    return min(client, server)


def on_start(connection: "Connection", inbound: frame.Method) -> None:
    method = inbound.method
    expect_state(connection.state, method, ConnectionState.PROTOCOL)
    if (method.version_major, method.version_minor) != (0, 9):
        _closing.fail_handshake(
            connection,
            exceptions.IncompatibleProtocolError(
                f"broker offered AMQP {method.version_major}-{method.version_minor}"
            ),
        )
        return
    connection.server_properties = dict(method.server_properties or {})
    capabilities = connection.server_properties.get("capabilities")
    connection.server_capabilities = dict(capabilities) if isinstance(capabilities, dict) else {}
    offered = method.mechanisms
    if isinstance(offered, (bytes, bytearray)):
        offered = offered.decode("utf-8", errors="replace")
    mechanisms = str(offered).split()
    credentials = connection.params.credentials
    mechanism, response = credentials.response_for(method)
    if mechanism is None or mechanism not in mechanisms:
        _closing.fail_handshake(
            connection,
            exceptions.AuthenticationError(
                getattr(credentials, "TYPE", type(credentials).__name__),
                f"broker offers {mechanisms}",
            ),
        )
        return
    connection._set_state(ConnectionState.START)
    connection._send_method(
        0,
        spec.Connection.StartOk(
            client_properties=build_client_properties(connection.params),
            mechanism=mechanism,
            response=response,
            locale=connection.params.locale,
        ),
    )


def on_secure(connection: "Connection", inbound: frame.Method) -> None:
    expect_state(connection.state, inbound.method, ConnectionState.START)
    # PLAIN and EXTERNAL complete in StartOk; a challenge means the broker wants a
    # mechanism we did not offer.
    _closing.fail_handshake(
        connection,
        exceptions.AuthenticationError(
            getattr(connection.params.credentials, "TYPE", "?"),
            "broker sent Connection.Secure; challenge-response is not supported",
        ),
    )


def on_tune(connection: "Connection", inbound: frame.Method) -> None:
    method = inbound.method
    expect_state(connection.state, method, ConnectionState.START)
    params = connection.params
    connection._channel_max = negotiate(params.channel_max, method.channel_max) or 65535
    connection._channel_max = min(connection._channel_max, 65535)
    frame_max = negotiate(params.frame_max, method.frame_max)
    if frame_max and frame_max < spec.FRAME_MIN_SIZE:
        _closing.fail_handshake(
            connection, exceptions.InvalidMinimumFrameSize(f"broker proposes frame_max={frame_max}")
        )
        return
    connection._frame_max = frame_max or 2**31 - 1
    connection._decoder.max_frame_size = connection._frame_max
    try:
        connection._heartbeat_interval = negotiate_heartbeat(connection, method.heartbeat)
    except Exception as error:  # a user heartbeat callable failed or returned nonsense
        _closing.fail_handshake(connection, error)
        return
    connection._set_state(ConnectionState.TUNE)
    connection._send_method(
        0,
        spec.Connection.TuneOk(
            channel_max=connection._channel_max,
            frame_max=frame_max,
            heartbeat=connection._heartbeat_interval,
        ),
    )
    connection._send_method(0, spec.Connection.Open(virtual_host=params.virtual_host))
    if connection._heartbeat_interval:
        # Start ticking now: the broker starts expecting heartbeats after TuneOk.
        connection._heartbeat = HeartbeatChecker(connection, connection._heartbeat_interval)
        connection._heartbeat.start()


def negotiate_heartbeat(connection: "Connection", server_value: int) -> int:
    """``heartbeat=None`` accepts the broker's; a callable decides from the broker's
    value; an int proposes a value where the smaller non-zero wins, and an explicit 0
    disables heartbeats (RabbitMQ honours a 0 in TuneOk)."""
    wanted = connection.params.heartbeat
    if wanted is None:
        return int(server_value)
    if callable(wanted):
        value = wanted(connection, server_value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"heartbeat callable returned {value!r}; expected an int")
        if not 0 <= value <= 65535:
            raise ValueError(f"heartbeat callable returned {value}; expected 0..65535")
        return value
    if wanted == 0:
        return 0
    return negotiate(int(wanted), int(server_value))


def on_open_ok(connection: "Connection", inbound: frame.Method) -> None:
    expect_state(connection.state, inbound.method, ConnectionState.TUNE)
    connection.known_hosts = inbound.method.known_hosts
    connection._cancel_timer("_stack_timer")
    connection._ever_opened = True
    connection._set_state(ConnectionState.OPEN)
    credentials = connection.params.credentials
    if getattr(credentials, "erase_on_connect", False):
        credentials.erase_credentials()
    LOGGER.info("Connection open: %r", connection)
    for callback in list(connection._on_open_callbacks):
        invoke(callback, connection)


def describe_lost_stream(connection: "Connection", error: BaseException) -> BaseException:
    """Name the handshake phase in which a stream was lost (the OS cause stays chained)."""
    waiting_for = WAITING_FOR.get(connection.state)
    if waiting_for is None or not isinstance(error, exceptions.StreamLostError):
        return error
    described = exceptions.StreamLostError(
        f"stream lost during the AMQP handshake, waiting for {waiting_for}: {error}"
    )
    described.__cause__ = error.__cause__ or error
    return described


# --------------------------------------------------------------------------------------------
# Attempts: one stream + handshake each; retries for the internal workflow
# --------------------------------------------------------------------------------------------


def start_external_attempt(connection: "Connection") -> None:
    """Start one open attempt on behalf of a workflow (``create_connection``)."""
    if connection._state is not ConnectionState.CLOSED or connection._ever_opened:
        raise exceptions.ConnectionWrongStateError("connection already started")
    connection._set_state(ConnectionState.INIT)
    begin_attempt(connection)


def begin_attempt(connection: "Connection") -> None:
    """Reset per-attempt state and ask the adapter for a stream (state is INIT)."""
    connection._retry_timer = None
    connection._attempts_left -= 1
    connection._decoder = frame.FrameDecoder(connection.params.frame_max)
    connection._frame_max = connection.params.frame_max
    connection._close_reason = None
    connection._close_sent = False
    connection._discard_input = False
    connection._client_close_args = None
    connection._stale_channels.clear()
    connection.server_properties = {}
    connection.server_capabilities = {}
    stack_timeout = connection.params.stack_timeout
    if stack_timeout is not None:
        connection._stack_timer = connection._adapter_call_later(
            stack_timeout, lambda: _closing.on_stack_timeout(connection)
        )
    connection._adapter_connect_stream()


def on_attempt_failed(connection: "Connection", reason: BaseException) -> None:
    """An open attempt ended without reaching OPEN: retry or report."""
    LOGGER.warning("Connection attempt to %r failed: %r", connection, reason)
    retry = (
        connection._internal_workflow
        and connection._attempts_left > 0
        and not isinstance(reason, DEFINITIVE_OPEN_ERRORS)
    )
    if retry:
        connection._set_state(ConnectionState.INIT)
        connection._retry_timer = connection._adapter_call_later(
            connection.params.retry_delay, lambda: begin_attempt(connection)
        )
        return
    for callback in list(connection._on_open_error_callbacks):
        invoke(callback, connection, reason)


def abort_open(connection: "Connection") -> None:
    """``close()`` while opening: stop the attempt and report ``ConnectionOpenAborted``."""
    connection._record_close_reason(
        exceptions.ConnectionOpenAborted("connection closed by the client while opening")
    )
    connection._attempts_left = 0
    if connection._retry_timer is not None:  # between attempts: no stream to tear down
        connection._cancel_timer("_retry_timer")
        connection._set_state(ConnectionState.CLOSING)
        # Report from the loop, not from inside close(), like every other outcome.
        connection._adapter_call_later(0, lambda: connection._on_stream_terminated(None))
        return
    connection._set_state(ConnectionState.CLOSING)
    connection._adapter_disconnect_stream()
