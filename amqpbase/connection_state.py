"""The connection state machine: one Enum and one transition table (DESIGN.md rule 3).

Only ``Connection._set_state`` changes a connection's state, and it refuses any move that is
not in :data:`TRANSITIONS`.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Dict, FrozenSet

from amqpbase import exceptions


class ConnectionState(Enum):
    """Where the connection is in its life (pika's numbering)."""

    CLOSED = 0  # no stream; initial and final state
    INIT = 1  # connecting the stream (or waiting to retry)
    PROTOCOL = 2  # stream up, protocol header sent, awaiting Connection.Start
    START = 3  # StartOk sent, awaiting Connection.Tune
    TUNE = 4  # TuneOk + Open sent, awaiting Connection.OpenOk
    OPEN = 5
    CLOSING = 6  # closing channels / Close sent / stream being torn down


_S = ConnectionState

#: The one transition table: state -> states it may move to. Anything else raises.
TRANSITIONS: Dict[ConnectionState, FrozenSet[ConnectionState]] = {
    _S.CLOSED: frozenset({_S.INIT}),
    _S.INIT: frozenset({_S.PROTOCOL, _S.CLOSING, _S.CLOSED}),
    _S.PROTOCOL: frozenset({_S.START, _S.CLOSING, _S.CLOSED}),
    _S.START: frozenset({_S.TUNE, _S.CLOSING, _S.CLOSED}),
    _S.TUNE: frozenset({_S.OPEN, _S.CLOSING, _S.CLOSED}),
    _S.OPEN: frozenset({_S.CLOSING, _S.CLOSED}),
    _S.CLOSING: frozenset({_S.CLOSED}),
}


def expect_state(current: ConnectionState, method: Any, *allowed: ConnectionState) -> None:
    """Raise 503 COMMAND_INVALID unless a broker ``method`` arrived in an ``allowed`` state."""
    if current not in allowed:
        raise exceptions.CommandInvalidError(f"{method.NAME} received in state {current.name}")
