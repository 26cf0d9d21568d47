"""Bad input from the user (issue 6): a systematic, table-driven audit.

(a) Every ``ConnectionParameters`` argument and every ``URLParameters`` query key, listed from
    the code (the constructor's signature, the URL parser's key table), is given wrong types
    and out-of-range values: each must raise the precise exception class with a message that
    names the field. Coverage tests fail when an argument or key is added without a row here.
(b) Every public ``Channel`` method, enumerated from the class, is called with a wrong type for
    each argument, and every shortstr argument with 256 ASCII bytes and with 86 three-byte
    UTF-8 characters (258 bytes but only 86 characters). Each call must raise
    ``TypeError``/``ValueError`` with NOTHING emitted and no channel state changed, and
    afterwards the connection must be intact: the same valid call and a publish then produce
    exactly the bytes a fresh connection produces for them.
(c) ``BasicProperties`` with bad field types and too-long shortstr properties, and header
    tables with unencodable values, on ``basic_publish``.

Everything runs on the in-memory harness (tests/unit/harness.py): a real base Connection and
Channel whose emitted bytes are collected.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import inspect
from typing import Any, Dict, List, Optional, Set, Tuple, Type

import pytest

from amqpbase import exceptions, spec
from amqpbase._amqp_url import QUERY_KEYS
from amqpbase.channel import Channel
from amqpbase.credentials import PlainCredentials
from amqpbase.parameters import ConnectionParameters, SSLOptions, URLParameters

from .harness import MemoryConnection, ScriptedBroker, open_connection

#: 256 ASCII bytes, and 86 x U+20AC (3 UTF-8 bytes each): 258 bytes in 86 characters.
LONG_ASCII = "x" * 256
LONG_UTF8 = "\u20ac" * 86
assert len(LONG_UTF8.encode("utf-8")) == 258 and len(LONG_UTF8) <= 255


def _never(*_args: Any) -> None:
    """A callable for the valid calls below."""


class _Unencodable:
    """A value no AMQP field type can hold."""


# ==============================================================================================
# (a) Connection parameters
# ==============================================================================================

#: argument -> list of (bad value, exception class). Every argument of
#: ConnectionParameters.__init__ must be here (test_parameter_table_covers_every_argument).
PARAMETER_CASES: Dict[str, List[Tuple[Any, Type[Exception]]]] = {
    "host": [(5, TypeError), (b"h", TypeError), (None, TypeError), ("", ValueError),
             ("two words", ValueError), ("h\x00", ValueError), ("h\n", ValueError)],
    "port": [("5672", TypeError), (5672.0, TypeError), (True, TypeError), (None, TypeError),
             (0, ValueError), (65536, ValueError), (-1, ValueError)],
    "virtual_host": [(5, TypeError), (b"/", TypeError), (None, TypeError),
                     (LONG_ASCII, ValueError), (LONG_UTF8, ValueError), ("\ud800", ValueError)],
    "credentials": [(("guest", "guest"), TypeError), ("guest", TypeError), (None, TypeError)],
    "channel_max": [("1", TypeError), (1.0, TypeError), (False, TypeError), (None, TypeError),
                    (0, ValueError), (65536, ValueError)],
    "frame_max": [("4096", TypeError), (4096.0, TypeError), (None, TypeError),
                  (4095, ValueError), (2**31, ValueError)],
    "heartbeat": [("60", TypeError), (1.5, TypeError), (True, TypeError),
                  (-1, ValueError), (65536, ValueError)],
    "ssl_options": [(True, TypeError), ({"verify": False}, TypeError), ("amqps", TypeError)],
    "connection_attempts": [("3", TypeError), (3.0, TypeError), (None, TypeError),
                            (0, ValueError), (-1, ValueError)],
    "retry_delay": [("1", TypeError), (None, TypeError), (True, TypeError),
                    (-0.1, ValueError), (float("nan"), ValueError), (float("inf"), ValueError)],
    "socket_timeout": [("1", TypeError), (True, TypeError), (0, ValueError),
                       (-1, ValueError), (float("nan"), ValueError)],
    "stack_timeout": [("1", TypeError), (False, TypeError), (0, ValueError),
                      (float("inf"), ValueError)],
    "locale": [(5, TypeError), (None, TypeError), (LONG_ASCII, ValueError),
               (LONG_UTF8, ValueError)],
    "blocked_connection_timeout": [("1", TypeError), (True, TypeError), (-1, ValueError),
                                   (float("nan"), ValueError)],
    "client_properties": [
        ([("connection_name", "x")], TypeError), ("x", TypeError), ({1: "x"}, TypeError),
        ({"capabilities": ["x"]}, TypeError), ({"connection_name": 5}, TypeError),
        ({LONG_ASCII: 1}, ValueError), ({LONG_UTF8: 1}, ValueError),
        # values must be encodable in Connection.StartOk, checked now rather than mid-handshake
        ({"x": _Unencodable()}, ValueError), ({"x": {1, 2}}, ValueError),
        ({"x": 2**64}, ValueError), ({"x": {"y": [_Unencodable()]}}, ValueError),
        ({"x": {LONG_ASCII: 1}}, ValueError), ({"x": {5: 1}}, TypeError),
        ({"x": decimal.Decimal("NaN")}, ValueError),
        ({"capabilities": {"x": _Unencodable()}}, ValueError),
    ],
    "tcp_options": [([1], TypeError), ({1: 1}, TypeError), ({"TCP_KEEPIDLE": "1"}, TypeError),
                    ({"SO_NOPE": 1}, ValueError), ({"TCP_KEEPIDLE": -1}, ValueError),
                    ({"TCP_KEEPIDLE": 2**31}, ValueError)],
    "observer": [(object(), TypeError), ("metrics", TypeError), (print, TypeError)],
}  # fmt: skip


def _constructor_arguments() -> Set[str]:
    signature = inspect.signature(ConnectionParameters.__init__)
    return {
        name for name, p in signature.parameters.items()
        if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    }  # fmt: skip


def test_parameter_table_covers_every_argument() -> None:
    assert set(PARAMETER_CASES) == _constructor_arguments()


def _parameter_cases() -> List[Any]:
    return [
        pytest.param(name, value, error, id=f"{name}-{index}")
        for name, cases in PARAMETER_CASES.items()
        for index, (value, error) in enumerate(cases)
    ]


@pytest.mark.parametrize("name, value, error", _parameter_cases())
def test_connection_parameters_reject(name: str, value: Any, error: Type[Exception]) -> None:
    """The constructor raises exactly ``error`` (not a subclass of the other one), naming the
    argument; assigning the same value to the attribute later does the same and changes
    nothing."""
    with pytest.raises(error) as caught:
        ConnectionParameters(**{name: value})
    other = ValueError if error is TypeError else TypeError
    assert not isinstance(caught.value, other), caught.value
    assert name in str(caught.value), caught.value

    params = ConnectionParameters()
    before = getattr(params, name)
    with pytest.raises(error):
        setattr(params, name, value)
    assert getattr(params, name) == before


def test_credentials_fields_are_checked() -> None:
    for args, error, field in [
        ((5, "p"), TypeError, "username"), (("u", None), TypeError, "password"),
        (("u\x00", "p"), ValueError, "username"), (("u", "p\x00"), ValueError, "password"),
        (("u", "p", 1), TypeError, "erase_on_connect"),
    ]:  # fmt: skip
        with pytest.raises(error, match=field):
            PlainCredentials(*args)


def test_ssl_options_fields_are_checked() -> None:
    with pytest.raises(TypeError, match="context"):
        SSLOptions("not a context")  # type: ignore[arg-type]
    import ssl

    with pytest.raises(TypeError, match="server_hostname"):
        SSLOptions(ssl.create_default_context(), server_hostname=5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# URL fields
# ---------------------------------------------------------------------------------------------

#: query key -> list of (raw query value, exception class). Every key the URL parser knows
#: must be here (test_url_query_table_covers_every_key).
QUERY_CASES: Dict[str, List[Tuple[str, Type[Exception]]]] = {
    "blocked_connection_timeout": [("abc", ValueError), ("-1", ValueError), ("nan", ValueError)],
    "channel_max": [("1.5", ValueError), ("", ValueError), ("0", ValueError),
                    ("65536", ValueError)],
    "client_properties": [("[1]", TypeError), ("{1: 2}", TypeError), ("{'a': {1, 2}}", ValueError),
                          ("not-a-literal", ValueError), ("{'a': 2**64}", ValueError)],
    "connection_attempts": [("x", ValueError), ("0", ValueError)],
    "frame_max": [("x", ValueError), ("4095", ValueError), ("2147483648", ValueError)],
    "heartbeat": [("1.5", ValueError), ("-1", ValueError), ("65536", ValueError)],
    "locale": [(LONG_ASCII, ValueError), (LONG_UTF8, ValueError)],
    "retry_delay": [("x", ValueError), ("-1", ValueError), ("inf", ValueError)],
    "socket_timeout": [("x", ValueError), ("0", ValueError), ("nan", ValueError)],
    "ssl_options": [("5", TypeError), ("{'verify': 'yes'}", TypeError),
                    ("{'nope': 1}", ValueError), ("{'cert_reqs': 7}", ValueError)],
    "stack_timeout": [("x", ValueError), ("0", ValueError), ("-inf", ValueError)],
    "tcp_options": [("[1]", TypeError), ("{'TCP_KEEPIDLE': '1'}", TypeError),
                    ("{'SO_NOPE': 1}", ValueError)],
}  # fmt: skip


def test_url_query_table_covers_every_key() -> None:
    assert set(QUERY_CASES) == QUERY_KEYS
    # ... and each URL query key is a ConnectionParameters argument of the same name
    assert QUERY_KEYS <= _constructor_arguments()


def _query_cases() -> List[Any]:
    return [
        pytest.param(key, text, error, id=f"{key}-{index}")
        for key, cases in QUERY_CASES.items()
        for index, (text, error) in enumerate(cases)
    ]


@pytest.mark.parametrize("key, text, error", _query_cases())
def test_url_query_rejects(key: str, text: str, error: Type[Exception]) -> None:
    from urllib.parse import quote

    with pytest.raises(error) as caught:
        URLParameters(f"amqp://h/?{key}={quote(text)}")
    other = ValueError if error is TypeError else TypeError
    assert not isinstance(caught.value, other), caught.value
    assert key in str(caught.value), caught.value


#: The URL's other fields: (url, exception class, a fragment of the message naming the field).
URL_FIELD_CASES: List[Tuple[Any, Type[Exception], str]] = [
    (5, TypeError, "url"),
    (b"amqp://h/", TypeError, "url"),
    ("http://h/", ValueError, "scheme"),
    ("amqp:h", ValueError, "malformed"),
    ("amqp://h:0/", ValueError, "port"),
    ("amqp://h:65536/", ValueError, "port"),
    ("amqp://h:abc/", ValueError, "port"),
    ("amqp://[::1/", ValueError, "IPv6"),
    ("amqp://h%ff/", ValueError, "host"),
    ("amqp://u%ff:p@h/", ValueError, "user name"),
    ("amqp://u:p%ff@h/", ValueError, "password"),
    ("amqp://u%00:p@h/", ValueError, "username"),
    ("amqp://h/" + "v" * 256, ValueError, "virtual_host"),
    ("amqp://h/" + "%E2%82%AC" * 86, ValueError, "virtual_host"),
    ("amqp://h/a/b", ValueError, "virtual host"),
    ("amqp://h/%ff", ValueError, "virtual host"),
    ("amqp://h/#x", ValueError, "fragment"),
    ("amqp://h/?nope=1", ValueError, "nope"),
    ("amqp://h/?heartbeat=1&heartbeat=2", ValueError, "heartbeat"),
    ("amqp://h/?%ff=1", ValueError, "query"),
    ("amqps://h/?ssl_options=None", ValueError, "ssl_options"),
]


@pytest.mark.parametrize("url, error, fragment", URL_FIELD_CASES)
def test_url_fields_reject(url: Any, error: Type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        URLParameters(url)


# ==============================================================================================
# (b) Channel methods
# ==============================================================================================


class Color(enum.Enum):
    DIRECT = "direct"


#: Public Channel methods -> (valid keyword arguments, the method the valid call emits or None
#: for a registration that emits nothing). Every public method must be here, and every one of
#: its parameters must have a kind in ARGUMENT_KINDS (see the coverage test).
METHODS: Dict[str, Tuple[Dict[str, Any], Optional[type]]] = {
    "add_callback": ({"callback": _never, "replies": [spec.Basic.GetEmpty], "one_shot": True},
                     None),
    "add_on_cancel_callback": ({"callback": _never}, None),
    "add_on_close_callback": ({"callback": _never}, None),
    "add_on_confirms_lost_callback": ({"callback": _never}, None),
    "add_on_interrupted_callback": ({"callback": _never}, None),
    "add_on_flow_callback": ({"callback": _never}, None),
    "add_on_return_callback": ({"callback": _never}, None),
    "basic_ack": ({"delivery_tag": 1, "multiple": False}, spec.Basic.Ack),
    "basic_nack": ({"delivery_tag": 1, "multiple": False, "requeue": True}, spec.Basic.Nack),
    "basic_reject": ({"delivery_tag": 1, "requeue": True}, spec.Basic.Reject),
    "basic_publish": ({"exchange": "x", "routing_key": "k", "body": b"b",
                       "properties": spec.BasicProperties(content_type="t"), "mandatory": True,
                       "on_confirm": _never},
                      spec.Basic.Publish),
    "basic_consume": ({"queue": "q", "on_message_callback": _never, "auto_ack": False,
                       "exclusive": False, "consumer_tag": "c", "arguments": {"a": 1},
                       "callback": _never}, spec.Basic.Consume),
    "basic_cancel": ({"consumer_tag": "known", "callback": _never}, spec.Basic.Cancel),
    "basic_get": ({"queue": "q", "callback": _never, "auto_ack": False}, spec.Basic.Get),
    "basic_qos": ({"prefetch_size": 0, "prefetch_count": 10, "global_qos": False,
                   "callback": _never}, spec.Basic.Qos),
    "basic_recover": ({"requeue": True, "callback": _never}, spec.Basic.Recover),
    # close() first cancels the consumer and waits for its CancelOk; Channel.Close waits
    "close": ({"reply_code": 200, "reply_text": "bye"}, spec.Basic.Cancel),
    "flow": ({"active": True, "callback": _never}, spec.Channel.Flow),
    "confirm_delivery": ({"ack_nack_callback": _never, "callback": _never},
                         spec.Confirm.Select),
    "exchange_declare": ({"exchange": "x", "exchange_type": Color.DIRECT, "passive": False,
                          "durable": True, "auto_delete": False, "internal": False,
                          "arguments": {"a": 1}, "callback": _never}, spec.Exchange.Declare),
    "exchange_delete": ({"exchange": "x", "if_unused": False, "callback": _never},
                        spec.Exchange.Delete),
    "exchange_bind": ({"destination": "d", "source": "s", "routing_key": "k",
                       "arguments": {"a": 1}, "callback": _never}, spec.Exchange.Bind),
    "exchange_unbind": ({"destination": "d", "source": "s", "routing_key": "k",
                         "arguments": {"a": 1}, "callback": _never}, spec.Exchange.Unbind),
    "queue_declare": ({"queue": "q", "passive": False, "durable": True, "exclusive": False,
                       "auto_delete": False, "arguments": {"a": 1}, "callback": _never},
                      spec.Queue.Declare),
    "queue_bind": ({"queue": "q", "exchange": "x", "routing_key": "k", "arguments": {"a": 1},
                    "callback": _never}, spec.Queue.Bind),
    "queue_unbind": ({"queue": "q", "exchange": "x", "routing_key": "k", "arguments": {"a": 1},
                      "callback": _never}, spec.Queue.Unbind),
    "queue_delete": ({"queue": "q", "if_unused": False, "if_empty": False, "callback": _never},
                     spec.Queue.Delete),
    "queue_purge": ({"queue": "q", "callback": _never}, spec.Queue.Purge),
    "tx_select": ({"callback": _never}, spec.Tx.Select),
    "tx_commit": ({"callback": _never}, spec.Tx.Commit),
    "tx_rollback": ({"callback": _never}, spec.Tx.Rollback),
}  # fmt: skip

#: Public methods with no argument a user can get wrong.
NO_ARGUMENTS = {"open"}

#: Flags are taken by truthiness, as pika does (``bool(value)`` goes on the wire): there is no
#: wrong type, so they are covered by test_flags_are_sent_as_their_truth_value instead.
FLAGS = {
    "active", "auto_ack", "auto_delete", "durable", "exclusive", "global_qos", "if_empty",
    "if_unused", "internal", "mandatory", "multiple", "one_shot", "passive", "requeue",
}  # fmt: skip

_SHORTSTR_TYPE_ERRORS = [5, b"q", ["q"], 1.5]
_SHORTSTR_VALUE_ERRORS = [LONG_ASCII, LONG_UTF8, "\ud800"]
_TABLE_TYPE_ERRORS = ["a", 5, [("a", 1)], {1: "a"}]
_TABLE_VALUE_ERRORS = [
    {"a": _Unencodable()},
    {"a": {1, 2}},
    {LONG_ASCII: 1},
    {"a": 2**64},
    {"a": {"b": [_Unencodable()]}},
    {"a": decimal.Decimal("NaN")},
]


def _uint(bits: int) -> Tuple[List[Any], List[Any]]:
    return ["1", 1.0, None, True], [-1, 2**bits]


#: argument kind -> (values that must raise TypeError, values that must raise ValueError).
KINDS: Dict[str, Tuple[List[Any], List[Any]]] = {
    "shortstr": (_SHORTSTR_TYPE_ERRORS + [None], _SHORTSTR_VALUE_ERRORS),
    "optional shortstr": (_SHORTSTR_TYPE_ERRORS, _SHORTSTR_VALUE_ERRORS),  # None: a default
    "uint16": _uint(16),
    "uint32": _uint(32),
    "uint64": _uint(64),
    "table": (_TABLE_TYPE_ERRORS, _TABLE_VALUE_ERRORS),
    "callback": ([None, 5, "f"], []),
    "optional callback": ([5, "f"], []),
    "body": ([5, None, ["b"], {"b": 1}], []),
    "properties": ([{"content_type": "t"}, 5, "t"], []),
    "replies": (
        [5, "x", [5], ["x"], [(spec.Basic.GetEmpty, 5)], [(spec.Basic.GetEmpty,)], [str]],
        [],
    ),
    # confirm_delivery raises ValueError for a non-callable, as pika does
    "ack_nack_callback": ([], [None, 5]),
}

#: (method, argument) -> kind; an argument not listed here takes ARGUMENT_KINDS[argument].
SPECIFIC_KINDS = {
    ("basic_consume", "consumer_tag"): "optional shortstr",
    ("queue_bind", "routing_key"): "optional shortstr",
    ("queue_unbind", "routing_key"): "optional shortstr",
    ("basic_get", "callback"): "callback",
    ("basic_qos", "prefetch_size"): "uint32",
    ("basic_qos", "prefetch_count"): "uint16",
    ("close", "reply_code"): "uint16",
}
ARGUMENT_KINDS = {
    "queue": "shortstr", "exchange": "shortstr", "routing_key": "shortstr",
    "consumer_tag": "shortstr", "destination": "shortstr", "source": "shortstr",
    "exchange_type": "shortstr", "reply_text": "shortstr", "delivery_tag": "uint64",
    "arguments": "table", "callback": "optional callback", "on_message_callback": "callback",
    "ack_nack_callback": "ack_nack_callback", "body": "body", "properties": "properties",
    "replies": "replies", "on_confirm": "optional callback",
}  # fmt: skip


def _public_methods() -> Set[str]:
    return {
        name for name, member in inspect.getmembers(Channel, inspect.isfunction)
        if not name.startswith("_")
    }  # fmt: skip


def _arguments(method: str) -> List[str]:
    return [n for n in inspect.signature(getattr(Channel, method)).parameters if n != "self"]


def _kind(method: str, argument: str) -> str:
    return SPECIFIC_KINDS.get((method, argument)) or ARGUMENT_KINDS[argument]


def test_channel_table_covers_every_public_method_and_argument() -> None:
    assert set(METHODS) | NO_ARGUMENTS == _public_methods()
    for method in NO_ARGUMENTS:
        assert _arguments(method) == []
    for method, (valid, _) in METHODS.items():
        arguments = _arguments(method)
        assert set(valid) == set(arguments), method  # the valid call gives every argument
        for argument in arguments:
            assert argument in FLAGS or _kind(method, argument) in KINDS, (method, argument)


def _channel_cases() -> List[Any]:
    cases = []
    for method in sorted(METHODS):
        for argument in _arguments(method):
            if argument in FLAGS:
                continue
            type_errors, value_errors = KINDS[_kind(method, argument)]
            for error, values in ((TypeError, type_errors), (ValueError, value_errors)):
                for index, value in enumerate(values):
                    cases.append(
                        pytest.param(
                            method,
                            argument,
                            value,
                            error,
                            id=f"{method}-{argument}-{error.__name__}-{index}",
                        )
                    )
    return cases


def _env() -> Tuple[MemoryConnection, ScriptedBroker, Channel, List[Any]]:
    """An open connection and channel 1 with one consumer ('known', for basic_cancel); the
    list collects every close callback of either."""
    connection, broker = open_connection()
    closed: List[Any] = []
    connection.add_on_close_callback(lambda *args: closed.append(args))
    channel = broker.open_channel(1)
    channel.add_on_close_callback(lambda *args: closed.append(args))
    channel.basic_consume("q", _never, consumer_tag="known", callback=_never)
    broker.send(1, spec.Basic.ConsumeOk("known"))
    broker.received()
    return connection, broker, channel, closed


def _channel_state(channel: Channel) -> Tuple[Any, ...]:
    """Everything a bad call must leave alone."""
    machine = channel.machine  # the channel machine owns the protocol state
    return (
        machine.state, dict(machine.consumers), set(machine.cancelling),
        set(machine.no_ack), machine.rpc_pending, list(machine.rpc_queue),
        machine.confirming, machine.next_publish_tag, machine.get_pending,
        channel.callback_counts,
    )  # fmt: skip


def _valid_then_publish(channel: Channel, method: str) -> None:
    """The method's valid call, then a publish on the same channel when it is still open."""
    valid, _ = METHODS[method]
    getattr(channel, method)(**valid)
    if channel.is_open:
        channel.basic_publish("x", "k", b"after", spec.BasicProperties(message_id="m"))


def _reference_bytes(method: str) -> bytes:
    """What a fresh connection emits for :func:`_valid_then_publish`."""
    connection, broker, channel, _ = _env()
    start = len(connection.outbound)
    _valid_then_publish(channel, method)
    return b"".join(connection.outbound[start:])


@pytest.mark.parametrize("method, argument, value, error", _channel_cases())
def test_channel_method_rejects_bad_argument(
    method: str, argument: str, value: Any, error: Type[Exception]
) -> None:
    connection, broker, channel, closed = _env()
    valid, emits = METHODS[method]
    state = _channel_state(channel)
    written = len(connection.outbound)

    with pytest.raises(error) as caught:
        getattr(channel, method)(**{**valid, argument: value})

    other = ValueError if error is TypeError else TypeError
    assert not isinstance(caught.value, other), caught.value
    assert len(connection.outbound) == written, "bytes were emitted for a rejected call"
    assert _channel_state(channel) == state, "a rejected call changed the channel"
    assert connection.is_open and channel.is_open and not closed

    # The connection is not poisoned: the valid call and a publish encode exactly as on a
    # fresh connection, and the broker's side decodes them.
    _valid_then_publish(channel, method)
    assert b"".join(connection.outbound[written:]) == _reference_bytes(method)
    sent = broker.methods()
    if emits is not None:  # (close() first cancels the consumer, then sends Channel.Close)
        assert any(isinstance(m, emits) for m in sent), sent
    if method != "close":
        assert isinstance(sent[-1], spec.Basic.Publish) and sent[-1].routing_key == "k"
    assert connection.is_open and not closed


def test_errors_name_the_argument() -> None:
    """Every TypeError/ValueError of the table names the argument (or the method field of the
    same name) so the user can tell which one was wrong; table and header errors name the
    offending key instead."""
    unnamed = []
    for case in _channel_cases():
        method, argument, value, error = case.values
        connection, broker, channel, _ = _env()
        valid, _ = METHODS[method]
        try:
            getattr(channel, method)(**{**valid, argument: value})
        except error as exc:
            text = str(exc)
            if argument not in text and not (
                argument == "arguments" and value != "a" and isinstance(value, dict)
            ):
                unnamed.append(f"{method}({argument}={value!r:.40}): {text[:100]}")
    assert not unnamed, "\n".join(unnamed)


@pytest.mark.parametrize("method", sorted(m for m in METHODS if set(_arguments(m)) & FLAGS))
def test_flags_are_sent_as_their_truth_value(method: str) -> None:
    """Flags take any value and send ``bool(value)`` (pika): 'yes' is True, 0 and '' False."""
    valid, emits = METHODS[method]
    if emits is None:
        return  # add_callback's one_shot: kept as bool(one_shot), nothing is sent
    for truthy, falsy in (("yes", ""), (1, 0), ([1], None)):
        for value in (truthy, falsy):
            connection, broker, channel, _ = _env()
            flags = {a: value for a in _arguments(method) if a in FLAGS}
            getattr(channel, method)(**{**valid, **flags})
            sent = [m for m in broker.methods() if isinstance(m, emits)]
            assert len(sent) == 1, (method, value)
            for argument, flag_value in flags.items():
                field = "no_ack" if argument == "auto_ack" else argument
                if method == "basic_qos" and argument == "global_qos":
                    field = "global_qos"
                assert getattr(sent[0], field) is bool(flag_value), (method, argument, value)


# ==============================================================================================
# (c) BasicProperties and header tables on basic_publish
# ==============================================================================================

_SHORTSTR_PROPERTIES = [
    "content_type",
    "content_encoding",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "type",
    "user_id",
    "app_id",
    "cluster_id",
]
_OCTET_PROPERTIES = ["delivery_mode", "priority"]


def _property_cases() -> List[Any]:
    cases = []
    for name in _SHORTSTR_PROPERTIES:
        for value in (5, 1.5, ["x"], {"x": 1}):
            cases.append(pytest.param(name, value, TypeError, id=f"{name}-type-{value!r:.10}"))
        for value in (LONG_ASCII, LONG_UTF8, "\ud800"):
            cases.append(pytest.param(name, value, ValueError, id=f"{name}-value-{len(value)}"))
    for name in _OCTET_PROPERTIES:
        for value in ("2", 2.0, b"\x02"):
            cases.append(pytest.param(name, value, TypeError, id=f"{name}-type-{value!r}"))
        for value in (-1, 256):
            cases.append(pytest.param(name, value, ValueError, id=f"{name}-value-{value}"))
    for value in ("now", 1.5, datetime.date(2020, 1, 1)):
        cases.append(pytest.param("timestamp", value, TypeError, id=f"timestamp-{value!r:.10}"))
    for value in (-1, 2**64):
        cases.append(pytest.param("timestamp", value, ValueError, id=f"timestamp-{value}"))
    for value in ([("a", 1)], "a", 5):
        cases.append(pytest.param("headers", value, TypeError, id=f"headers-type-{value!r:.10}"))
    cases.append(pytest.param("headers", {5: "a"}, TypeError, id="headers-int-key"))
    for index, value in enumerate(_TABLE_VALUE_ERRORS + [{"a": "\ud800"}]):
        cases.append(pytest.param("headers", value, ValueError, id=f"headers-value-{index}"))
    return cases


def test_property_table_covers_every_property() -> None:
    names = {name for name, _ in spec.BasicProperties.ARGUMENTS}  # type: ignore[attr-defined]
    covered = {case.values[0] for case in _property_cases()}
    assert covered == names


@pytest.mark.parametrize("name, value, error", _property_cases())
def test_publish_rejects_bad_property(name: str, value: Any, error: Type[Exception]) -> None:
    connection, broker, channel, closed = _env()
    channel.confirm_delivery(_never)  # the delivery tag counter must not move either
    state = _channel_state(channel)
    written = len(connection.outbound)
    with pytest.raises(error) as caught:
        channel.basic_publish("x", "k", b"body", spec.BasicProperties(**{name: value}))
    other = ValueError if error is TypeError else TypeError
    assert not isinstance(caught.value, other), caught.value
    assert len(connection.outbound) == written
    assert _channel_state(channel) == state
    channel.basic_publish("x", "k", b"after", spec.BasicProperties(**{name: None}))
    sent = broker.methods()
    assert isinstance(sent[-1], spec.Basic.Publish)
    assert connection.is_open and channel.is_open and not closed
    assert channel.next_delivery_tag == 2


def test_publish_rejects_oversized_exchange_and_routing_key_before_sending() -> None:
    """The publish fast path too: 256 bytes and 258 bytes in 86 characters are refused with
    ``ShortStringTooLong`` (a ValueError) and nothing is sent."""
    connection, broker, channel, closed = _env()
    written = len(connection.outbound)
    for exchange, routing_key in (
        (LONG_ASCII, "k"),
        ("x", LONG_ASCII),
        (LONG_UTF8, "k"),
        ("x", LONG_UTF8),
    ):
        with pytest.raises(exceptions.ShortStringTooLong):
            channel.basic_publish(exchange, routing_key, b"body")
        with pytest.raises(exceptions.ShortStringTooLong):
            channel.basic_publish(exchange, routing_key, b"x" * 200_000)  # multi-frame path
    assert len(connection.outbound) == written
    channel.basic_publish("x", "\u20ac" * 85, b"body")  # 255 bytes: the largest legal key
    assert broker.methods()[-1].routing_key == "\u20ac" * 85
    assert connection.is_open and channel.is_open and not closed
