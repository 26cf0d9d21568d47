"""The answers of the connection handshake, as pure functions (AMQP 0-9-1 section 1.4.2).

Owns the rules that turn what the broker offers and what the client asked for into what the
client answers: the SASL mechanism and response for Connection.Start (1.4.2.1/1.4.2.2), the
channel_max, frame_max and heartbeat for Connection.TuneOk (1.4.2.5/1.4.2.6), the check of a
heartbeat callable's answer, and :func:`short_text` (a reply text that fits a shortstr).
A rule the broker's or the user's answer breaks comes back as the exception the handshake
fails with (a value, never raised), so the caller decides what failing means.

Must not: hold or change state (the :class:`~.connection_machine.ConnectionMachine`'s
handlers do, and call these), send bytes, or call user code (the heartbeat callable is the
facade's to call; only its answer comes here).
"""

from __future__ import annotations

from typing import List, Optional, Tuple, Union

from amqpbase import exceptions, spec
from amqpbase.credentials import CredentialsType
from amqpbase.parameters import HeartbeatType

#: What the facade hands back for a heartbeat callable: its answer, or what it raised.
HeartbeatAnswer = Union[int, BaseException]

#: The largest channel number and heartbeat: both are a short in Connection.TuneOk.
SHORT_MAX = 65535


def negotiate(client: int, server: int) -> int:
    """AMQP 0-9-1 Connection.Tune (1.4.2.5): 0 means "no limit"; otherwise the smaller
    value wins (the client may only lower the broker's proposal, 1.4.2.6)."""
    if client == 0 or server == 0:
        return max(client, server)
    return min(client, server)


def short_text(text: str) -> str:
    """``text`` made safe for a shortstr: at most 255 UTF-8 bytes, and no lone surrogates
    (an error message may quote a broker string decoded with surrogate escapes)."""
    encoded = text.encode("utf-8", errors="backslashreplace")[:255]
    return encoded.decode("utf-8", errors="ignore")


# --------------------------------------------------------------------------------------------
# Connection.Start -> Connection.StartOk (1.4.2.1, 1.4.2.2)
# --------------------------------------------------------------------------------------------


def offered_mechanisms(mechanisms: Union[bytes, bytearray, str]) -> List[str]:
    """Connection.Start's ``mechanisms``: the SASL mechanism names the broker supports,
    delimited by spaces (1.4.2.1). Bytes that are not UTF-8 are replaced, not fatal."""
    if isinstance(mechanisms, (bytes, bytearray)):
        mechanisms = mechanisms.decode("utf-8", errors="replace")
    return str(mechanisms).split()


def sasl_answer(
    credentials: CredentialsType, start: spec.Connection.Start
) -> Union[Tuple[str, Optional[bytes]], exceptions.AuthenticationError]:
    """The (mechanism, response) of Connection.StartOk, or the ``AuthenticationError``
    when the credentials' mechanism is not one the broker offers: StartOk's mechanism
    "must be one of those specified by the server" (1.4.2.2), or the broker closes the
    socket without a word."""
    mechanisms = offered_mechanisms(start.mechanisms)
    mechanism, response = credentials.response_for(start)
    if mechanism is None or mechanism not in mechanisms:
        return exceptions.AuthenticationError(
            getattr(credentials, "TYPE", type(credentials).__name__),
            f"broker offers {mechanisms}",
        )
    return mechanism, response


# --------------------------------------------------------------------------------------------
# Connection.Tune -> Connection.TuneOk (1.4.2.5, 1.4.2.6)
# --------------------------------------------------------------------------------------------


def tune_channel_max(client: int, server: int) -> int:
    """TuneOk's channel_max: :func:`negotiate`; "no limit" (0 on both sides) becomes
    65535, the highest channel number a short can carry."""
    return min(negotiate(client, server) or SHORT_MAX, SHORT_MAX)


def tune_frame_max(
    client: int, server: int
) -> Union[int, exceptions.InvalidMinimumFrameSize]:
    """TuneOk's frame_max (0: no limit), or ``InvalidMinimumFrameSize`` for a negotiated
    value below ``FRAME_MIN_SIZE``: "the minimum negotiated value for frame-max is also
    frame-min-size" (4096, 1.4.2.5)."""
    frame_max = negotiate(client, server)
    if frame_max and frame_max < spec.FRAME_MIN_SIZE:
        return exceptions.InvalidMinimumFrameSize(f"broker proposes frame_max={frame_max}")
    return frame_max


def tune_heartbeat(wanted: HeartbeatType, server: int) -> Optional[int]:
    """TuneOk's heartbeat for the client's ``heartbeat`` parameter and the broker's proposal
    (seconds; 0: no heartbeat, 1.4.2.5/1.4.2.6): None accepts the broker's, an explicit 0
    turns heartbeats off (RabbitMQ honours the client's 0 in TuneOk), any other number and
    the broker's give the smaller non-zero. None for a callable: the facade asks it (the
    machine's ``ChooseHeartbeat``) and :func:`checked_heartbeat` checks its answer."""
    if callable(wanted):
        return None
    if wanted is None:
        return server
    if wanted == 0:
        return 0
    return negotiate(int(wanted), server)


def checked_heartbeat(answer: HeartbeatAnswer) -> Union[int, BaseException]:
    """The heartbeat callable's answer if it is an int TuneOk can carry (0..65535), else
    the error the open fails with: what the callable raised, a ``TypeError`` for a non-int
    (a bool too), a ``ValueError`` for an int out of range."""
    if isinstance(answer, BaseException):
        return answer
    if isinstance(answer, bool) or not isinstance(answer, int):
        return TypeError(f"heartbeat callable returned {answer!r}; expected an int")
    if not 0 <= answer <= SHORT_MAX:
        return ValueError(f"heartbeat callable returned {answer}; expected 0..65535")
    return answer
