"""Secrets never leak: passwords (and UpdateSecret tokens) stay out of logs, reprs and
exception texts, without a broker.

Scope: the base ``Connection`` driven through a whole handshake by a scripted broker with every
logger at DEBUG (a login, a token rotation, a close, then a refused login), the repr of every
frame it sent (what a frame tracer would print), the parameter/credential reprs, and the errors
of malformed URLs and settings that embed a password. The real-broker counterpart on every loop
is ``tests/conformance/test_conformance_tls_broker.py::test_passwords_never_appear_in_logs_
reprs_or_errors``; the per-class details are in test_credentials.py and test_parameters.py.
"""

from __future__ import annotations

import copy
import logging
import traceback
from typing import Any, Callable, Iterator, List, Optional

import pytest

from amqpbase import exceptions, frame, spec
from amqpbase.amqp_object import HIDDEN
from amqpbase.credentials import PlainCredentials
from amqpbase.parameters import ConnectionParameters, URLParameters

from .harness import MemoryConnection, ScriptedBroker

#: Distinctive secrets: any occurrence in a text is a leak.
PASSWORD = "Pw-3kq9-UNIQUE-pass"
TOKEN = "Tk-7zx2-UNIQUE-token"
SECRETS = (PASSWORD, TOKEN)


def texts_of(error: BaseException) -> List[str]:
    """str, repr, args and traceback of ``error`` and of every exception chained to it as a
    traceback shows them (``__cause__``, and ``__context__`` unless ``raise ... from None``
    suppressed it)."""
    texts = ["".join(traceback.format_exception(type(error), error, error.__traceback__))]
    current: Optional[BaseException] = error
    seen: List[BaseException] = []
    while current is not None and current not in seen:
        seen.append(current)
        texts += [str(current), repr(current), repr(current.args)]
        if current.__cause__ is not None or current.__suppress_context__:
            current = current.__cause__
        else:
            current = current.__context__
    return texts


def assert_no_secret(texts: List[str]) -> None:
    leaks = [text for text in texts for secret in SECRETS if secret in text]
    assert leaks == [], f"a secret leaked in: {leaks}"


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], List[str]]]:
    """Every logger at DEBUG; yields a function returning each record fully formatted
    (message, raw args, traceback)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="amqpbase")
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s %(args)r")

    def formatted() -> List[str]:
        return [formatter.format(record) for record in caplog.records]

    yield formatted


# -- Frames: what a tracer or an exception could print -----------------------------------------


@pytest.mark.parametrize(
    "method",
    [
        spec.Connection.StartOk(client_properties={}, mechanism="PLAIN",
                                response=b"\0alice\0" + PASSWORD.encode(), locale="en_US"),
        spec.Connection.SecureOk(response=PASSWORD.encode()),
        spec.Connection.UpdateSecret(new_secret=TOKEN.encode(), reason="rotation"),
    ],
    ids=lambda method: method.NAME,
)
def test_secret_fields_of_methods_are_hidden_in_repr(method: Any) -> None:
    """The SASL response and the UpdateSecret token are hidden in repr/str of the method and
    of its frame, also after an encode/decode round trip; other fields are still shown and
    the value itself is untouched (it must still go on the wire)."""
    decoded = frame.FrameDecoder(2**20).feed(frame.encode_method_frame(0, method))[0]
    assert isinstance(decoded, frame.Method) and decoded.method == method
    texts = [repr(method), str(method), repr(decoded), str(decoded), f"{[method]}"]
    assert_no_secret(texts)
    assert all(HIDDEN in text for text in texts)
    assert method.NAME in repr(method)
    assert PASSWORD.encode() in method.encode() or TOKEN.encode() in method.encode()


def test_non_secret_methods_are_shown_in_full() -> None:
    """Masking is limited to secret fields: a Connection.Start shows its mechanisms."""
    start = spec.Connection.Start(mechanisms=b"PLAIN EXTERNAL", locales=b"en_US")
    assert "PLAIN EXTERNAL" in repr(start) and HIDDEN not in repr(start)


# -- A whole connection life at DEBUG -----------------------------------------------------------


def test_connection_life_at_debug_shows_no_secret(all_logs: Callable[[], List[str]]) -> None:
    """Open with PLAIN (credentials from a URL), rotate the token with UpdateSecret, close;
    then a login the broker refuses (Connection.Close 403). No log record, repr of a sent
    frame, repr of the connection/parameters/credentials or exception text holds a secret,
    while the secrets did go on the wire."""
    params = URLParameters(f"amqp://alice:{PASSWORD}@127.0.0.1:5672/%2F?heartbeat=1")
    closed: List[BaseException] = []
    connection = MemoryConnection(params, on_close_callback=lambda _c, r: closed.append(r))
    broker = ScriptedBroker(connection)
    broker.handshake()
    connection.update_secret(TOKEN, "rotation")
    broker.send(0, spec.Connection.UpdateSecretOk())
    connection.close()
    broker.send(0, spec.Connection.CloseOk())
    connection.clock.advance(0)
    assert connection.is_closed and len(closed) == 1

    wire = b"".join(bytes(chunk) for chunk in connection.outbound)
    assert PASSWORD.encode() in wire and TOKEN.encode() in wire  # the test's secrets were used
    texts = [repr(f) for f in ScriptedBroker(connection).received()]
    texts += [repr(connection), repr(params), str(params), repr(params.credentials),
              repr(copy.copy(params)), repr(copy.deepcopy(params))]
    texts += texts_of(closed[0])

    errors: List[BaseException] = []
    refused = MemoryConnection(
        ConnectionParameters(credentials=PlainCredentials("alice", PASSWORD)),
        on_open_error_callback=lambda _c, e: errors.append(e))
    script = ScriptedBroker(refused)
    script.connect()
    script.start()
    script.send(0, spec.Connection.Close(
        reply_code=403, class_id=0, method_id=0,
        reply_text="ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN."))
    refused.clock.advance(1)
    assert [type(e) for e in errors] == [exceptions.ProbableAuthenticationError]
    texts += texts_of(errors[0]) + [repr(f) for f in ScriptedBroker(refused).received()]

    logs = all_logs()
    assert any(" DEBUG " in line or " INFO " in line for line in logs), logs  # capture works
    assert_no_secret(texts + logs)


# -- Parameters and URLs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: ConnectionParameters(credentials=PlainCredentials("alice", PASSWORD)),
        lambda: URLParameters(f"amqp://alice:{PASSWORD}@127.0.0.1/%2F"),
        lambda: URLParameters(f"amqps://alice:{PASSWORD}@127.0.0.1/%2F"),
        lambda: PlainCredentials("alice", PASSWORD, erase_on_connect=True),
    ],
    ids=["ConnectionParameters", "URLParameters", "URLParameters-amqps", "PlainCredentials"],
)
def test_reprs_hide_the_password(build: Callable[[], Any]) -> None:
    obj = build()
    texts = [repr(obj), str(obj), f"{obj}", f"{obj!r}", repr([obj]), repr({"p": obj})]
    credentials = getattr(obj, "credentials", None)
    if credentials is not None:
        texts += [repr(credentials), str(credentials)]
    assert_no_secret(texts)


@pytest.mark.parametrize(
    "url",
    [
        f"amqp://alice:{PASSWORD}#x@127.0.0.1/%2F",  # unencoded '#' in the password
        f"amqp://alice:{PASSWORD}/x@127.0.0.1/%2F",  # unencoded '/': a bad port, a bad path
        f"amqp://alice:{PASSWORD}?x@127.0.0.1/%2F",  # unencoded '?': a bad query
        f"amqp://alice:{PASSWORD}%ff@127.0.0.1/%2F",  # not UTF-8
        f"amqp://alice:{PASSWORD}%00@127.0.0.1/%2F",  # NUL
        f"amqp://alice:{PASSWORD}@127.0.0.1:99999/%2F",  # port out of range
        f"amqp://alice:{PASSWORD}@127.0.0.1/a/b",  # two path segments
        f"amqx://alice:{PASSWORD}@127.0.0.1/%2F",  # scheme
        f"amqp:alice:{PASSWORD}@127.0.0.1/%2F",  # no '//'
        f"amqp://alice:{PASSWORD}@127.0.0.1/%2F?heartbeat=x@{PASSWORD}",  # '@': maybe a password
        f"amqp://alice:{PASSWORD}@127.0.0.1/%2F?{PASSWORD}=1",
        f"amqp://alice:{PASSWORD}@127.0.0.1/%2F?ssl_options="
        f"{{'certfile':'/nonexistent.pem','password':'{PASSWORD}'}}",
        f"amqp://alice:{PASSWORD}@127.0.0.1/%2F?ssl_options={{'password':'{PASSWORD}'}}",
        f"amqp://alice:{PASSWORD}@127.0.0.1/%2F?ssl_options={{'{PASSWORD}':1}}",
    ],
)
def test_url_errors_never_echo_the_password(url: str) -> None:
    """Every malformed URL holding a password fails with a precise error whose text (and
    chained causes) never shows the password, nor the ssl_options key password."""
    with pytest.raises((ValueError, TypeError)) as info:
        URLParameters(url)
    assert_no_secret(texts_of(info.value))


@pytest.mark.parametrize(
    "bad",
    [("alice", PASSWORD), {"username": "alice", "password": PASSWORD}, f"alice:{PASSWORD}"],
    ids=["tuple", "dict", "str"],
)
def test_wrong_credentials_type_is_not_echoed(bad: Any) -> None:
    """Credentials passed as a tuple, dict or string: a TypeError naming the type only."""
    with pytest.raises(TypeError) as info:
        ConnectionParameters(credentials=bad)
    assert_no_secret(texts_of(info.value))
    assert type(bad).__name__ in str(info.value)
