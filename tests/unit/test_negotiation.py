"""The handshake's pure answers (``amqpbase.protocol.negotiation``), at their edge values.

Connection.Tune (AMQP 0-9-1 1.4.2.5/1.4.2.6): 0 is "no limit", the smaller value wins, a
frame_max below 4096 is refused, the heartbeat rules of the ``heartbeat`` parameter, and a
heartbeat callable's answer checked. Connection.Start (1.4.2.1/1.4.2.2): the offered
mechanisms parsed and the credentials' answer accepted only for an offered mechanism. The
facade-level tests (tests/unit/test_connection.py) drive the same rules through TuneOk.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amqpbase import exceptions, spec
from amqpbase.credentials import ExternalCredentials, PlainCredentials
from amqpbase.protocol.negotiation import (
    checked_heartbeat,
    negotiate,
    offered_mechanisms,
    sasl_answer,
    short_text,
    tune_channel_max,
    tune_frame_max,
    tune_heartbeat,
)

LONG = st.integers(0, 2**32 - 1)  # frame_max is a long
SHORT = st.integers(0, 65535)  # channel_max and heartbeat are shorts


def start(mechanisms: Any) -> spec.Connection.Start:
    return spec.Connection.Start(version_major=0, version_minor=9, server_properties={},
                                 mechanisms=mechanisms, locales=b"en_US")


# --------------------------------------------------------------------------------------------
# negotiate, short_text
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "client, server, expected",
    [(0, 0, 0), (0, 7, 7), (7, 0, 7), (1, 2**32 - 1, 1), (2**32 - 1, 1, 1), (5, 5, 5)],
)
def test_negotiate_zero_is_no_limit_else_the_smaller(client: int, server: int,
                                                     expected: int) -> None:
    assert negotiate(client, server) == expected


@given(LONG, LONG)
def test_negotiate_never_exceeds_a_limit_either_side_set(client: int, server: int) -> None:
    result = negotiate(client, server)
    assert result == negotiate(server, client)
    assert (result == 0) == (client == 0 and server == 0)
    for limit in (client, server):
        if limit:
            assert 0 < result <= limit
    assert result in (client, server)


#: Any character, lone surrogates included (a broker string decoded with surrogate escapes).
CHARACTERS = st.one_of(st.characters(), st.sampled_from(["\udc80", "\udcff", "\ud83d"]))


@given(st.text(alphabet=CHARACTERS, max_size=400))
def test_short_text_fits_a_shortstr_and_always_encodes(text: str) -> None:
    result = short_text(text)
    encoded = result.encode("utf-8")  # strict: no lone surrogate survives
    assert len(encoded) <= 255
    if len(text.encode("utf-8", errors="backslashreplace")) <= 255:
        assert encoded == text.encode("utf-8", errors="backslashreplace")


def test_short_text_cuts_at_255_bytes_without_splitting_a_character() -> None:
    assert short_text("x" * 300) == "x" * 255
    assert short_text("x" * 254 + "é") == "x" * 254  # the 2-byte é would end at byte 256
    assert short_text("key '\udcff'") == "key '\\udcff'"


# --------------------------------------------------------------------------------------------
# Connection.Start -> StartOk
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mechanisms, expected",
    [
        (b"PLAIN AMQPLAIN", ["PLAIN", "AMQPLAIN"]),
        (bytearray(b"EXTERNAL"), ["EXTERNAL"]),
        ("PLAIN  EXTERNAL ", ["PLAIN", "EXTERNAL"]),
        (b"", []),
        (b"\xff PLAIN", ["\ufffd", "PLAIN"]),  # not UTF-8: replaced, the rest still counts
    ],
)
def test_offered_mechanisms_are_space_delimited(mechanisms: Any, expected: Any) -> None:
    assert offered_mechanisms(mechanisms) == expected


def test_plain_credentials_answer_an_offered_plain() -> None:
    answer = sasl_answer(PlainCredentials("guest", "sécret"), start(b"AMQPLAIN PLAIN"))
    assert answer == ("PLAIN", b"\0guest\0s\xc3\xa9cret")


def test_external_credentials_answer_an_offered_external() -> None:
    assert sasl_answer(ExternalCredentials(), start("PLAIN EXTERNAL")) == ("EXTERNAL", b"")


@pytest.mark.parametrize("mechanisms", [b"PLAIN", b"", b"EXTERNALX PLAIN"])
def test_no_offered_mechanism_fits_gives_authentication_error(mechanisms: bytes) -> None:
    answer = sasl_answer(ExternalCredentials(), start(mechanisms))
    assert type(answer) is exceptions.AuthenticationError
    assert answer.args == ("EXTERNAL", f"broker offers {offered_mechanisms(mechanisms)}")


class InsistentExternal(ExternalCredentials):
    """A customised answer (pika documents subclassing): EXTERNAL whatever is offered."""

    def response_for(self, start: Any) -> Tuple[Optional[str], Optional[bytes]]:
        return "EXTERNAL", b"cert"


def test_a_mechanism_the_broker_did_not_offer_is_never_sent() -> None:
    # StartOk's mechanism "must be one of those specified by the server" (1.4.2.2)
    answer = sasl_answer(InsistentExternal(), start(b"PLAIN"))
    assert isinstance(answer, exceptions.AuthenticationError)
    assert answer.args[0] == "EXTERNAL"
    assert sasl_answer(InsistentExternal(), start(b"EXTERNAL")) == ("EXTERNAL", b"cert")


# --------------------------------------------------------------------------------------------
# Connection.Tune -> TuneOk
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "client, server, expected",
    [(0, 0, 65535), (65535, 0, 65535), (0, 2047, 2047), (100, 2047, 100), (4000, 2047, 2047),
     (1, 65535, 1)],
)
def test_channel_max_no_limit_is_the_largest_short(client: int, server: int,
                                                   expected: int) -> None:
    assert tune_channel_max(client, server) == expected


@given(SHORT, SHORT)
def test_channel_max_is_a_usable_short_within_both_limits(client: int, server: int) -> None:
    result = tune_channel_max(client, server)
    assert 1 <= result <= 65535
    assert all(result <= limit for limit in (client, server) if limit)


@pytest.mark.parametrize(
    "client, server, expected",
    [(0, 0, 0), (131072, 0, 131072), (0, 131072, 131072), (131072, 4096, 4096),
     (4096, 131072, 4096), (8192, 131072, 8192), (2**32 - 1, 2**32 - 1, 2**32 - 1)],
)
def test_frame_max_negotiated(client: int, server: int, expected: int) -> None:
    assert tune_frame_max(client, server) == expected


@pytest.mark.parametrize("client, server", [(131072, 4095), (4095, 0), (1, 131072), (0, 1)])
def test_frame_max_below_the_minimum_is_refused(client: int, server: int) -> None:
    # "the minimum negotiated value for frame-max is also frame-min-size" (1.4.2.5)
    answer = tune_frame_max(client, server)
    assert type(answer) is exceptions.InvalidMinimumFrameSize
    assert str(answer) == f"broker proposes frame_max={negotiate(client, server)}"


@given(LONG, LONG)
def test_frame_max_is_refused_exactly_below_4096(client: int, server: int) -> None:
    answer = tune_frame_max(client, server)
    agreed = negotiate(client, server)
    if 0 < agreed < spec.FRAME_MIN_SIZE:
        assert isinstance(answer, exceptions.InvalidMinimumFrameSize)
    else:
        assert answer == agreed


@pytest.mark.parametrize(
    "wanted, server, expected",
    [(None, 60, 60), (None, 0, 0), (0, 60, 0), (0, 0, 0), (10, 60, 10), (120, 60, 60),
     (10, 0, 10), (65535, 65535, 65535), (1, 65535, 1)],
)
def test_heartbeat_rule(wanted: Optional[int], server: int, expected: int) -> None:
    assert tune_heartbeat(wanted, server) == expected


def test_a_heartbeat_callable_is_asked_not_answered_here() -> None:
    assert tune_heartbeat(lambda connection, proposed: 5, 60) is None


@given(SHORT, SHORT)
def test_a_non_zero_heartbeat_on_both_sides_gives_the_smaller(wanted: int, server: int) -> None:
    result = tune_heartbeat(wanted, server)
    if wanted == 0:
        assert result == 0  # an explicit 0 turns heartbeats off whatever the broker says
    else:
        assert result == (min(wanted, server) if server else wanted)


@pytest.mark.parametrize("answer", [0, 1, 65535])
def test_a_heartbeat_callable_answer_in_range_is_taken(answer: int) -> None:
    assert checked_heartbeat(answer) == answer


@pytest.mark.parametrize(
    "answer, kind, text",
    [
        (-1, ValueError, "heartbeat callable returned -1; expected 0..65535"),
        (65536, ValueError, "heartbeat callable returned 65536; expected 0..65535"),
        (True, TypeError, "heartbeat callable returned True; expected an int"),
        ("5", TypeError, "heartbeat callable returned '5'; expected an int"),
        (5.0, TypeError, "heartbeat callable returned 5.0; expected an int"),
        (None, TypeError, "heartbeat callable returned None; expected an int"),
    ],
)
def test_a_bad_heartbeat_callable_answer_gives_the_error(answer: Any, kind: type,
                                                        text: str) -> None:
    error = checked_heartbeat(answer)
    assert type(error) is kind and str(error) == text


def test_what_the_heartbeat_callable_raised_is_the_error() -> None:
    raised = RuntimeError("boom")
    assert checked_heartbeat(raised) is raised
