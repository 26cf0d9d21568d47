"""The connection machine's decision table: its states, its inputs and, for every
(state, input) pair, the outcome (AMQP 0-9-1 section 2.2.4 for the channel-0 sequence).

Owns: :class:`ConnectionState` (pika's numbers), :class:`Input`, the outcome constants and
:data:`TABLE`. Must not: hold per-connection state or act (the machine does, by looking the
pair up here).
"""

from __future__ import annotations

from typing import Dict, Tuple

from amqpbase.protocol.enums import TableEnum
from amqpbase.protocol.connection_actions import Timer


class ConnectionState(TableEnum):
    """Where the connection is in its life (pika's numbering)."""

    CLOSED = 0  # no stream; initial and final state
    INIT = 1  # connecting the stream (or waiting to retry)
    PROTOCOL = 2  # stream up, protocol header sent, awaiting Connection.Start
    START = 3  # StartOk sent, awaiting Connection.Tune
    TUNE = 4  # TuneOk + Open sent, awaiting Connection.OpenOk
    OPEN = 5
    CLOSING = 6  # closing channels / Close sent / stream being torn down


class Input(TableEnum):
    """Everything the machine can be told (one column of :data:`TABLE` each)."""

    # API requests (from the facade)
    START = "start()"
    RECOVER = "recover()"
    CLOSE = "close()"
    CHANNELS_CLOSING = "channels_closing()"
    CHANNEL_CLOSED = "channel_closed()"
    REQUEST_CHANNEL = "request_channel()"
    UPDATE_SECRET = "update_secret()"
    HEARTBEAT_CHOSEN = "heartbeat_chosen()"
    PROTOCOL_ERROR = "protocol_error()"
    # stream events
    STREAM_CONNECTED = "stream connected"
    STREAM_TERMINATED = "stream terminated"
    # timer expiries
    RETRY_TIMER = "retry timer"
    STACK_TIMER = "stack timer"
    CLOSE_TIMER = "close timer"
    BLOCKED_TIMER = "blocked timer"
    HEARTBEAT_TIMER = "heartbeat timer"
    ABORT_TIMER = "abort timer"
    # channel-0 frames from the broker
    PROTOCOL_HEADER = "protocol header"
    HEARTBEAT = "heartbeat frame"
    CONTENT_FRAME = "content frame"
    START_METHOD = "Connection.Start"
    SECURE_METHOD = "Connection.Secure"
    TUNE_METHOD = "Connection.Tune"
    OPEN_OK_METHOD = "Connection.OpenOk"
    CLOSE_METHOD = "Connection.Close"
    CLOSE_OK_METHOD = "Connection.CloseOk"
    BLOCKED_METHOD = "Connection.Blocked"
    UNBLOCKED_METHOD = "Connection.Unblocked"
    UPDATE_SECRET_OK_METHOD = "Connection.UpdateSecretOk"
    OTHER_METHOD = "another method"


_S = ConnectionState
_I = Input

#: Outcomes that are not handlers.
IGNORE = "ignore"  # defined no-op (e.g. a late timer, a frame with no stream)
REFUSE = "refuse"  # API call in the wrong state: ConnectionWrongStateError, nothing changed
COMMAND_INVALID = "command_invalid"  # broker method out of sequence: 503, nothing changed
UNEXPECTED_FRAME = "unexpected_frame"  # broker frame that has no place on channel 0: 505

API_INPUTS = frozenset(
    {_I.START, _I.RECOVER, _I.CLOSE, _I.CHANNELS_CLOSING, _I.CHANNEL_CLOSED, _I.REQUEST_CHANNEL,
     _I.UPDATE_SECRET, _I.HEARTBEAT_CHOSEN, _I.PROTOCOL_ERROR}
)
STREAM_INPUTS = frozenset({_I.STREAM_CONNECTED, _I.STREAM_TERMINATED})
TIMER_INPUTS: Dict[Timer, Input] = {
    Timer.RETRY: _I.RETRY_TIMER,
    Timer.STACK: _I.STACK_TIMER,
    Timer.CLOSE: _I.CLOSE_TIMER,
    Timer.BLOCKED: _I.BLOCKED_TIMER,
    Timer.HEARTBEAT: _I.HEARTBEAT_TIMER,
    Timer.ABORT: _I.ABORT_TIMER,
}
FRAME_INPUTS = frozenset(set(Input) - API_INPUTS - STREAM_INPUTS - set(TIMER_INPUTS.values()))
#: Method inputs that still count after our Connection.Close (AMQP 0-9-1 2.2.4: after
#: sending Close, discard all received methods but Close and Close-Ok).
AFTER_CLOSE = frozenset({_I.CLOSE_METHOD, _I.CLOSE_OK_METHOD})

#: States in which the peer has seen Connection.Start, so a Connection.Close may be sent.
CAN_SEND_CLOSE = frozenset({_S.START, _S.TUNE, _S.OPEN, _S.CLOSING})


def _build_table() -> Dict[Tuple[ConnectionState, Input], str]:
    """Every (state, input) pair, written as: per input, its default outcome and the states
    that differ. The result is complete by construction; the unit test checks it anyway."""
    rows: Dict[Input, Tuple[str, Dict[ConnectionState, str]]] = {
        # -- API requests --------------------------------------------------------------
        _I.START: (REFUSE, {_S.CLOSED: "start"}),
        # automatic recovery: a new stream for a connection that closed (issue 12)
        _I.RECOVER: (REFUSE, {_S.CLOSED: "recover"}),
        _I.CLOSE: ("abort_open", {_S.OPEN: "client_close", _S.CLOSING: REFUSE,
                                  _S.CLOSED: REFUSE}),
        # the close overtaken (e.g. the broker's Close from a channel's callback): nothing
        _I.CHANNELS_CLOSING: (REFUSE, {_S.OPEN: "channels_closing", _S.CLOSING: IGNORE,
                                       _S.CLOSED: IGNORE}),
        _I.CHANNEL_CLOSED: ("channel_closed", {}),
        _I.REQUEST_CHANNEL: (REFUSE, {_S.OPEN: IGNORE}),
        _I.UPDATE_SECRET: (REFUSE, {_S.OPEN: "update_secret"}),
        # the attempt was aborted from the callable itself: its answer no longer matters
        _I.HEARTBEAT_CHOSEN: (REFUSE, {_S.START: "heartbeat_chosen", _S.CLOSING: IGNORE}),
        # no stream: no frame of the current stream can be at fault
        _I.PROTOCOL_ERROR: ("protocol_error", {_S.INIT: IGNORE, _S.CLOSED: IGNORE}),
        # -- stream events -------------------------------------------------------------
        # a second "connected" for the same stream breaks the hook contract: ignored
        _I.STREAM_CONNECTED: (IGNORE, {_S.INIT: "stream_connected",
                                       _S.CLOSING: "stream_connected_while_aborting"}),
        _I.STREAM_TERMINATED: ("stream_terminated", {_S.CLOSED: IGNORE}),
        # -- timers (an expiry is stale unless armed for this incarnation: ignored) --------
        _I.RETRY_TIMER: (IGNORE, {_S.INIT: "begin_attempt"}),
        _I.STACK_TIMER: ("stack_timeout", {_S.OPEN: IGNORE, _S.CLOSED: IGNORE}),
        _I.CLOSE_TIMER: (IGNORE, {_S.CLOSING: "close_timeout"}),
        _I.BLOCKED_TIMER: ("blocked_timeout", {_S.INIT: IGNORE, _S.CLOSED: IGNORE}),
        _I.HEARTBEAT_TIMER: (IGNORE, {_S.TUNE: "heartbeat_tick", _S.OPEN: "heartbeat_tick",
                                      _S.CLOSING: "heartbeat_tick"}),
        _I.ABORT_TIMER: (IGNORE, {_S.CLOSING: "aborted"}),
        # -- channel-0 frames (INIT and CLOSED have no stream: nothing can arrive) ---------
        _I.PROTOCOL_HEADER: (UNEXPECTED_FRAME, {_S.PROTOCOL: "refused_version"}),
        _I.HEARTBEAT: (IGNORE, {}),  # only counted, as bytes received
        _I.CONTENT_FRAME: (UNEXPECTED_FRAME, {}),
        _I.START_METHOD: (COMMAND_INVALID, {_S.PROTOCOL: "start_method"}),
        _I.SECURE_METHOD: (COMMAND_INVALID, {_S.START: "secure_method"}),
        _I.TUNE_METHOD: (COMMAND_INVALID, {_S.START: "tune_method"}),
        _I.OPEN_OK_METHOD: (COMMAND_INVALID, {_S.TUNE: "open_ok_method"}),
        _I.CLOSE_METHOD: ("close_method", {}),
        _I.CLOSE_OK_METHOD: (COMMAND_INVALID, {_S.CLOSING: "close_ok_method"}),
        _I.BLOCKED_METHOD: ("blocked_method", {}),
        _I.UNBLOCKED_METHOD: ("unblocked_method", {}),
        # no UpdateSecret can be outstanding before OPEN
        _I.UPDATE_SECRET_OK_METHOD: (COMMAND_INVALID, {_S.OPEN: "update_secret_ok_method",
                                                       _S.CLOSING: "update_secret_ok_method"}),
        _I.OTHER_METHOD: (COMMAND_INVALID, {}),
    }
    table: Dict[Tuple[ConnectionState, Input], str] = {}
    for event, (default, special) in rows.items():
        for state in ConnectionState:
            outcome = special.get(state, default)
            if event in FRAME_INPUTS and state in (_S.INIT, _S.CLOSED):
                outcome = IGNORE
            table[(state, event)] = outcome
    return table


#: The one decision table: (state, input) -> outcome (a handler name or a constant above).
TABLE: Dict[Tuple[ConnectionState, Input], str] = _build_table()
