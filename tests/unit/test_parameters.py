"""amqpbase.parameters: defaults, every setter's errors, URL parsing, TLS options, client
properties, and that a password never shows in repr/str or exception text."""

from __future__ import annotations

import copy
import math
import platform
import ssl
import sys
import traceback
from fractions import Fraction
from pathlib import Path
from typing import Any, Dict, List, Tuple, Type
from urllib.parse import quote

import pytest

from amqpbase import parameters
from amqpbase.credentials import ExternalCredentials, PlainCredentials
from amqpbase.parameters import (
    CAPABILITIES,
    CLIENT_VERSION,
    TCP_OPTION_NAMES,
    ConnectionParameters,
    Parameters,
    SSLOptions,
    URLParameters,
    build_client_properties,
)

SECRET = "S3cr3t-pa55w0rd"

# A throw-away self-signed EC certificate and its key, encrypted with KEY_PASSWORD; only used
# to load into an SSLContext (nothing connects with it).
TEST_CERT = """-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUL/Z3LoomA1FcEu0cEnRvYt3kB7IwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNYW1xcGJhc2UtdGVzdDAgFw0yNjExMjUwMDM1MDNaGA8yMTI2
MTEwMTAwMzUwM1owGDEWMBQGA1UEAwwNYW1xcGJhc2UtdGVzdDBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABI9obx42roDXDSuY3f9rIguCa2+1GOKnMiUUl0jSuByf
3YU2I1dqLDRUS5vtLLH7NhVdYZ8b18ZqB+FRfo2mbk6jUzBRMB0GA1UdDgQWBBS7
VFDl+za4Mltvg9SGFDMb9Zb1sjAfBgNVHSMEGDAWgBS7VFDl+za4Mltvg9SGFDMb
9Zb1sjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQC6q0YA27By
CCn34azF2Y36Vcy5NIXPZRzD2PWVUXgVQQIgObjz920noYw7cDKvtT8+dGUtq1l8
/kkO6psdz4yCBZU=
-----END CERTIFICATE-----
"""
TEST_KEY_ENCRYPTED = """-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAjpJI4E34p+9AICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEFxNuoS/X02i9TUIvg59yI8EgZDc
aM/FsJZWOd3fUOKlLhAj+9ubzLhzBcTz96c5ZevzP5hl8tBuXVwY6GdnFGUhkGmd
1QUhE5HoZFIDlD94CZkMuhwSD09tpUzqf7Hkt9n/LYJYKVGCCL1LPqwG47zD1fjJ
Ya0mS6qjuOoFU5+lRkMqQ5IXzZ5oWJFvLbwLQ7t2vsG1g7BfW44qNi4p1tUkh8A=
-----END ENCRYPTED PRIVATE KEY-----
"""
KEY_PASSWORD = "k3y-pa55"


def exception_text(exc: BaseException) -> str:
    """Everything a log line or a traceback of ``exc`` (with its chain) could show."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + repr(exc)


@pytest.fixture
def pem_files(tmp_path: Path) -> Tuple[str, str]:
    cert = tmp_path / "cert.pem"
    key = tmp_path / "key.pem"
    cert.write_text(TEST_CERT)
    key.write_text(TEST_KEY_ENCRYPTED)
    return str(cert), str(key)


def heartbeat_callback(connection: Any, proposal: int) -> int:
    return min(proposal, 30)


# ==============================================================================================
# Defaults
# ==============================================================================================

EXPECTED_DEFAULTS: Dict[str, Any] = {
    "blocked_connection_timeout": None,
    "channel_max": 65535,
    "client_properties": None,
    "connection_attempts": 1,
    "credentials": PlainCredentials("guest", "guest"),
    "frame_max": 131072,
    "heartbeat": None,
    "host": "localhost",
    "locale": "en_US",
    "port": 5672,
    "retry_delay": 2.0,
    "socket_timeout": 10.0,
    "stack_timeout": 15.0,
    "ssl_options": None,
    "virtual_host": "/",
    "tcp_options": None,
}


@pytest.mark.parametrize("cls", [Parameters, ConnectionParameters])
def test_defaults(cls: Type[Parameters]) -> None:
    params = cls()
    for name, expected in EXPECTED_DEFAULTS.items():
        assert getattr(params, name) == expected, name


def test_url_defaults_match_connection_parameters() -> None:
    assert URLParameters("amqp://") == ConnectionParameters()
    for name, expected in EXPECTED_DEFAULTS.items():
        assert getattr(URLParameters("amqp://"), name) == expected, name


def test_default_class_attributes_are_pikas() -> None:
    assert Parameters.DEFAULT_USERNAME == Parameters.DEFAULT_PASSWORD == "guest"
    assert Parameters.DEFAULT_BLOCKED_CONNECTION_TIMEOUT is None
    assert Parameters.DEFAULT_CHANNEL_MAX == 65535
    assert Parameters.DEFAULT_CLIENT_PROPERTIES is None
    assert Parameters.DEFAULT_CREDENTIALS == PlainCredentials("guest", "guest")
    assert Parameters.DEFAULT_CONNECTION_ATTEMPTS == 1
    assert Parameters.DEFAULT_FRAME_MAX == 131072
    assert Parameters.DEFAULT_HEARTBEAT_TIMEOUT is None
    assert Parameters.DEFAULT_HOST == "localhost"
    assert Parameters.DEFAULT_LOCALE == "en_US"
    assert Parameters.DEFAULT_PORT == 5672
    assert Parameters.DEFAULT_RETRY_DELAY == 2.0
    assert Parameters.DEFAULT_SOCKET_TIMEOUT == 10.0
    assert Parameters.DEFAULT_STACK_TIMEOUT == 15.0
    assert Parameters.DEFAULT_SSL is False
    assert Parameters.DEFAULT_SSL_OPTIONS is None
    assert Parameters.DEFAULT_SSL_PORT == 5671
    assert Parameters.DEFAULT_VIRTUAL_HOST == "/"
    assert Parameters.DEFAULT_TCP_OPTIONS is None


def test_default_credentials_are_copied_not_shared() -> None:
    params = ConnectionParameters()
    assert params.credentials is not Parameters.DEFAULT_CREDENTIALS
    assert params.credentials is not ConnectionParameters().credentials


def test_subclass_can_override_defaults() -> None:
    class MyParameters(ConnectionParameters):
        DEFAULT_HOST = "rabbit.example"
        DEFAULT_HEARTBEAT_TIMEOUT = 30
        DEFAULT_PORT = 5673

    params = MyParameters()
    assert (params.host, params.heartbeat, params.port) == ("rabbit.example", 30, 5673)


def test_ssl_options_without_port_gives_the_tls_port() -> None:
    options = SSLOptions(ssl.create_default_context())
    assert ConnectionParameters(ssl_options=options).port == 5671
    assert ConnectionParameters(ssl_options=options, port=5672).port == 5672
    assert ConnectionParameters(ssl_options=None).port == 5672


def test_assigning_ssl_options_later_leaves_the_port_alone() -> None:
    params = ConnectionParameters()
    params.ssl_options = SSLOptions(ssl.create_default_context())
    assert params.port == 5672


def test_connection_parameters_accepts_every_argument_positionally() -> None:
    creds = PlainCredentials("u", "p")
    options = SSLOptions(ssl.create_default_context())
    params = ConnectionParameters(
        "h", 1234, "vh", creds, 100, 8192, 7, options, 3, 0.5, 4, 9, "fr_FR", 60,
        {"connection_name": "n"}, {"TCP_KEEPIDLE": 5},
    )  # fmt: skip
    assert params.host == "h" and params.port == 1234 and params.virtual_host == "vh"
    assert params.credentials == creds and params.channel_max == 100
    assert params.frame_max == 8192 and params.heartbeat == 7 and params.ssl_options is options
    assert params.connection_attempts == 3 and params.retry_delay == 0.5
    assert params.socket_timeout == 4.0 and params.stack_timeout == 9.0
    assert params.locale == "fr_FR" and params.blocked_connection_timeout == 60.0
    assert params.client_properties == {"connection_name": "n"}
    assert params.tcp_options == {"TCP_KEEPIDLE": 5}


def test_unknown_keyword_arguments_are_named_but_not_echoed() -> None:
    with pytest.raises(TypeError) as info:
        ConnectionParameters(password=SECRET, ssl=True)
    text = str(info.value)
    assert "password" in text and "ssl" in text
    assert SECRET not in exception_text(info.value)


def test_default_marker_is_exposed_like_pika() -> None:
    marker = ConnectionParameters._DEFAULT
    assert ConnectionParameters(host=marker) == ConnectionParameters()


def test_slots_reject_misspelt_attributes() -> None:
    params = ConnectionParameters()
    with pytest.raises(AttributeError):
        params.heartbeet = 5  # type: ignore[attr-defined]


# ==============================================================================================
# Setters: accepted values
# ==============================================================================================

GOOD_VALUES: List[Tuple[str, Any, Any]] = [
    ("blocked_connection_timeout", None, None),
    ("blocked_connection_timeout", 0, 0.0),
    ("blocked_connection_timeout", 30, 30.0),
    ("blocked_connection_timeout", 0.25, 0.25),
    ("blocked_connection_timeout", Fraction(1, 2), 0.5),
    ("channel_max", 1, 1),
    ("channel_max", 65535, 65535),
    ("connection_attempts", 1, 1),
    ("connection_attempts", 1000, 1000),
    ("frame_max", 4096, 4096),
    ("frame_max", 2**31 - 1, 2**31 - 1),
    ("heartbeat", None, None),
    ("heartbeat", 0, 0),
    ("heartbeat", 65535, 65535),
    ("heartbeat", heartbeat_callback, heartbeat_callback),
    ("host", "rabbit.example", "rabbit.example"),
    ("host", "::1", "::1"),
    ("locale", "fr_FR", "fr_FR"),
    ("locale", "", ""),
    ("locale", "x" * 255, "x" * 255),
    ("port", 1, 1),
    ("port", 65535, 65535),
    ("retry_delay", 0, 0.0),
    ("retry_delay", 5, 5.0),
    ("retry_delay", 0.1, 0.1),
    ("socket_timeout", None, None),
    ("socket_timeout", 1, 1.0),
    ("socket_timeout", 0.001, 0.001),
    ("stack_timeout", None, None),
    ("stack_timeout", 30, 30.0),
    ("virtual_host", "/", "/"),
    ("virtual_host", "", ""),
    ("virtual_host", "vhöst", "vhöst"),
    ("virtual_host", "é" * 127, "é" * 127),
    ("client_properties", None, None),
    ("client_properties", {}, {}),
    ("client_properties", {"connection_name": "x", "capabilities": {}}, None),
    ("tcp_options", None, None),
    ("tcp_options", {}, {}),
    ("tcp_options", {name: 1 for name in TCP_OPTION_NAMES}, None),
    ("tcp_options", {"TCP_USER_TIMEOUT": 0}, {"TCP_USER_TIMEOUT": 0}),
    ("credentials", ExternalCredentials(), ExternalCredentials()),
    ("credentials", PlainCredentials("a", "b"), PlainCredentials("a", "b")),
]


@pytest.mark.parametrize("name, value, stored", GOOD_VALUES)
def test_setter_accepts(name: str, value: Any, stored: Any) -> None:
    params = ConnectionParameters()
    setattr(params, name, value)
    expected = value if stored is None and value is not None else stored
    assert getattr(params, name) == expected
    assert type(getattr(params, name)) is type(expected)
    # The constructor goes through the same setter.
    assert getattr(ConnectionParameters(**{name: value}), name) == expected


@pytest.mark.parametrize(
    "name", ["blocked_connection_timeout", "retry_delay", "socket_timeout", "stack_timeout"]
)
def test_numbers_are_stored_as_float(name: str) -> None:
    arguments: Dict[str, Any] = {name: 3}
    params = ConnectionParameters(**arguments)
    assert type(getattr(params, name)) is float


# ==============================================================================================
# Setters: type and value errors
# ==============================================================================================

BAD_VALUES: List[Tuple[str, Any, Type[Exception], str]] = [
    # ints: bool is not an int, and nothing is coerced
    *[
        (name, bad, TypeError, "must be an int")
        for name in ("channel_max", "connection_attempts", "frame_max", "port")
        for bad in (True, False, "10", 10.0, None, b"1", [1])
    ],
    ("channel_max", 0, ValueError, "1..65535"),
    ("channel_max", 65536, ValueError, "1..65535"),
    ("channel_max", -1, ValueError, "1..65535"),
    ("connection_attempts", 0, ValueError, "connection_attempts must be in 1.."),
    ("connection_attempts", -5, ValueError, "connection_attempts"),
    ("frame_max", 4095, ValueError, "4096..2147483647"),
    ("frame_max", 2**31, ValueError, "4096..2147483647"),
    ("port", 0, ValueError, "1..65535"),
    ("port", 65536, ValueError, "1..65535"),
    ("port", -1, ValueError, "1..65535"),
    # heartbeat
    ("heartbeat", True, TypeError, "heartbeat must be None, an int or a callable"),
    ("heartbeat", 1.5, TypeError, "heartbeat must be None, an int or a callable"),
    ("heartbeat", "60", TypeError, "heartbeat"),
    ("heartbeat", -1, ValueError, "heartbeat must be in 0..65535"),
    ("heartbeat", 65536, ValueError, "heartbeat must be in 0..65535"),
    # numbers
    *[
        (name, bad, TypeError, "must be an int or float")
        for name in (
            "blocked_connection_timeout", "retry_delay", "socket_timeout", "stack_timeout"
        )
        for bad in (True, False, "1.0", b"1", [1.0], 1j)
    ],
    ("retry_delay", None, TypeError, "retry_delay must be an int or float"),
    ("blocked_connection_timeout", -0.5, ValueError, "blocked_connection_timeout must be >= 0"),
    ("retry_delay", -1, ValueError, "retry_delay must be >= 0"),
    ("socket_timeout", 0, ValueError, "socket_timeout must be > 0"),
    ("socket_timeout", -1.0, ValueError, "socket_timeout must be > 0"),
    ("stack_timeout", 0.0, ValueError, "stack_timeout must be > 0"),
    ("stack_timeout", -3, ValueError, "stack_timeout must be > 0"),
    *[
        (name, bad, ValueError, f"{name} must be a finite number")
        for name in (
            "blocked_connection_timeout", "retry_delay", "socket_timeout", "stack_timeout"
        )
        for bad in (math.nan, math.inf, -math.inf)
    ],
    # strings
    ("host", None, TypeError, "host must be a str"),
    ("host", b"localhost", TypeError, "host must be a str"),
    ("host", 127001, TypeError, "host must be a str"),
    ("host", "", ValueError, "host must not be empty"),
    ("locale", None, TypeError, "locale must be a str"),
    ("locale", b"en_US", TypeError, "locale must be a str"),
    ("locale", "x" * 256, ValueError, "locale must encode to at most 255 UTF-8 bytes"),
    ("virtual_host", None, TypeError, "virtual_host must be a str"),
    ("virtual_host", b"/", TypeError, "virtual_host must be a str"),
    ("virtual_host", "é" * 128, ValueError, "virtual_host must encode to at most 255"),
    ("virtual_host", "\udc80", ValueError, "virtual_host is not encodable as UTF-8"),
    # objects
    ("credentials", None, TypeError, "credentials must be one of PlainCredentials"),
    ("credentials", "guest", TypeError, "credentials must be one of"),
    ("ssl_options", ssl.create_default_context(), TypeError, "ssl_options must be an SSLOptions"),
    ("ssl_options", True, TypeError, "ssl_options must be an SSLOptions or None"),
    ("ssl_options", {"verify": False}, TypeError, "ssl_options must be an SSLOptions"),
    # client_properties
    ("client_properties", [("a", 1)], TypeError, "client_properties must be a dict or None"),
    ("client_properties", "name", TypeError, "client_properties must be a dict or None"),
    ("client_properties", {1: "x"}, TypeError, "client_properties keys must be str"),
    ("client_properties", {"k" * 256: 1}, ValueError, "client_properties key must encode"),
    ("client_properties", {"capabilities": []}, TypeError, "['capabilities'] must be a dict"),
    ("client_properties", {"connection_name": 5}, TypeError, "['connection_name'] must be a str"),
    # tcp_options
    ("tcp_options", [("TCP_KEEPIDLE", 1)], TypeError, "tcp_options must be a dict or None"),
    ("tcp_options", {1: 1}, TypeError, "tcp_options keys must be str"),
    ("tcp_options", {"TCP_KEEPALIVE": 1}, ValueError, "unknown tcp_options key 'TCP_KEEPALIVE'"),
    ("tcp_options", {"tcp_keepidle": 1}, ValueError, "unknown tcp_options key"),
    ("tcp_options", {"TCP_KEEPIDLE": True}, TypeError,
     "tcp_options['TCP_KEEPIDLE'] must be an int"),
    ("tcp_options", {"TCP_KEEPCNT": "3"}, TypeError, "tcp_options['TCP_KEEPCNT'] must be an int"),
    ("tcp_options", {"TCP_KEEPINTVL": -1}, ValueError, "tcp_options['TCP_KEEPINTVL'] must be in"),
    ("tcp_options", {"TCP_USER_TIMEOUT": 2**31}, ValueError, "tcp_options['TCP_USER_TIMEOUT']"),
]  # fmt: skip


@pytest.mark.parametrize("name, value, error, message", BAD_VALUES)
def test_setter_rejects(name: str, value: Any, error: Type[Exception], message: str) -> None:
    params = ConnectionParameters()
    before = getattr(params, name)
    with pytest.raises(error) as info:
        setattr(params, name, value)
    assert type(info.value) is error
    assert message in str(info.value)
    assert getattr(params, name) == before  # a rejected value changes nothing
    with pytest.raises(error) as info:
        ConnectionParameters(**{name: value})
    assert message in str(info.value)


def test_value_errors_show_the_value() -> None:
    with pytest.raises(ValueError, match="but got 70000"):
        ConnectionParameters(port=70000)
    with pytest.raises(TypeError, match=r"'5672' \(str\)"):
        ConnectionParameters(port="5672")  # type: ignore[arg-type]


def test_credentials_type_error_never_echoes_the_value() -> None:
    with pytest.raises(TypeError) as info:
        ConnectionParameters(credentials=("user", SECRET))  # type: ignore[arg-type]
    assert "tuple" in str(info.value)
    assert SECRET not in exception_text(info.value)


def test_credentials_subclasses_are_accepted_and_copied() -> None:
    class Custom(ExternalCredentials):
        pass

    creds = Custom()
    params = ConnectionParameters(credentials=creds)
    assert isinstance(params.credentials, Custom) and params.credentials is not creds


def test_credentials_are_deep_copied_so_erasure_stays_local() -> None:
    creds = PlainCredentials("u", "p", erase_on_connect=True)
    params = ConnectionParameters(credentials=creds)
    params.credentials.erase_credentials()
    assert creds.password == "p"
    assert isinstance(params.credentials, PlainCredentials)
    assert params.credentials.password is None


def test_client_properties_are_deep_copied() -> None:
    props: Dict[str, Any] = {"connection_name": "a", "capabilities": {"x": True}}
    params = ConnectionParameters(client_properties=props)
    props["capabilities"]["x"] = False
    props["connection_name"] = "b"
    assert params.client_properties == {"connection_name": "a", "capabilities": {"x": True}}


def test_tcp_options_are_copied() -> None:
    options = {"TCP_KEEPIDLE": 10}
    params = ConnectionParameters(tcp_options=options)
    options["TCP_KEEPIDLE"] = 99
    assert params.tcp_options == {"TCP_KEEPIDLE": 10}


def test_tcp_option_names_are_pikas() -> None:
    assert TCP_OPTION_NAMES == {"TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_USER_TIMEOUT"}


def test_heartbeat_accepts_any_callable() -> None:
    class Negotiator:
        def __call__(self, connection: Any, proposal: int) -> int:
            return proposal

    negotiator = Negotiator()
    assert ConnectionParameters(heartbeat=negotiator).heartbeat is negotiator
    assert ConnectionParameters(heartbeat=lambda c, p: 0).heartbeat is not None


# ==============================================================================================
# SSLOptions
# ==============================================================================================


def test_ssl_options() -> None:
    context = ssl.create_default_context()
    options = SSLOptions(context, "rabbit.example")
    assert options.context is context and options.server_hostname == "rabbit.example"
    assert SSLOptions(context).server_hostname is None
    assert repr(options) == "<SSLOptions server_hostname='rabbit.example'>"


@pytest.mark.parametrize("bad", [None, "context", ssl.create_default_context, object()])
def test_ssl_options_requires_a_context(bad: Any) -> None:
    with pytest.raises(TypeError, match="context must be an ssl.SSLContext"):
        SSLOptions(bad)


def test_ssl_options_server_hostname_type() -> None:
    with pytest.raises(TypeError, match="server_hostname must be a str or None"):
        SSLOptions(ssl.create_default_context(), b"host")  # type: ignore[arg-type]


def test_ssl_options_equality_is_by_context_identity() -> None:
    context = ssl.create_default_context()
    assert SSLOptions(context, "h") == SSLOptions(context, "h")
    assert hash(SSLOptions(context, "h")) == hash(SSLOptions(context, "h"))
    assert SSLOptions(context, "h") != SSLOptions(context, "other")
    assert SSLOptions(context) != SSLOptions(ssl.create_default_context())
    assert SSLOptions(context) != context


def test_ssl_options_slots() -> None:
    with pytest.raises(AttributeError):
        SSLOptions(ssl.create_default_context()).hostname = "x"  # type: ignore[attr-defined]


# ==============================================================================================
# Equality and repr
# ==============================================================================================


def test_equality_compares_every_attribute() -> None:
    assert ConnectionParameters() == ConnectionParameters()
    assert not ConnectionParameters() != ConnectionParameters()
    changed: Dict[str, Any] = {
        "blocked_connection_timeout": 5, "channel_max": 10, "client_properties": {"a": 1},
        "connection_attempts": 2, "credentials": PlainCredentials("guest", "other"),
        "frame_max": 8192, "heartbeat": 5, "host": "other", "locale": "fr_FR", "port": 1,
        "retry_delay": 1, "socket_timeout": 1, "stack_timeout": 1,
        "ssl_options": SSLOptions(ssl.create_default_context()), "virtual_host": "v",
        "tcp_options": {"TCP_KEEPIDLE": 1},
    }  # fmt: skip
    assert set(changed) == set(EXPECTED_DEFAULTS)
    for name, value in changed.items():
        assert ConnectionParameters(**{name: value}) != ConnectionParameters(), name


def test_equality_across_classes_and_with_other_types() -> None:
    assert URLParameters("amqp://guest:guest@localhost:5672/%2F") == ConnectionParameters()
    assert ConnectionParameters() != "amqp://localhost"
    assert ConnectionParameters() != None  # noqa: E711


def test_parameters_are_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(ConnectionParameters())


def test_repr_is_pikas_and_has_no_password() -> None:
    params = ConnectionParameters(host="h", port=1, virtual_host="v",
                                  credentials=PlainCredentials("alice", SECRET))  # fmt: skip
    assert repr(params) == "<ConnectionParameters host=h port=1 virtual_host=v ssl=False>"
    url = URLParameters(f"amqps://alice:{SECRET}@h/v")
    assert repr(url) == "<URLParameters host=h port=5671 virtual_host=v ssl=True>"
    for obj in (params, url):
        assert SECRET not in repr(obj) and SECRET not in str(obj) and SECRET not in f"{obj}"


# ==============================================================================================
# URLParameters: structure
# ==============================================================================================


def test_url_full() -> None:
    params = URLParameters("amqp://alice:wonder@rabbit.example:5673/prod")
    assert params.host == "rabbit.example" and params.port == 5673
    assert params.virtual_host == "prod"
    assert params.credentials == PlainCredentials("alice", "wonder")
    assert params.ssl_options is None


@pytest.mark.parametrize(
    "url, vhost",
    [
        ("amqp://host", "/"),
        ("amqp://host/", "/"),  # pika: a lone '/' keeps the default
        ("amqp://host/%2f", "/"),
        ("amqp://host/%2F", "/"),
        ("amqp://host/vhost", "vhost"),
        ("amqp://host/v%2Fhost", "v/host"),
        ("amqp://host/v%20host", "v host"),
        ("amqp://host/v+host", "v+host"),
        ("amqp://host/%C3%A9t%C3%A9", "été"),
        ("amqp:///vhost", "vhost"),
        ("amqp://host/%2f?heartbeat=1", "/"),
    ],
)
def test_url_virtual_host(url: str, vhost: str) -> None:
    assert URLParameters(url).virtual_host == vhost


@pytest.mark.parametrize("url", ["amqp://host/a/b", "amqp://host//", "amqp://host/vhost/"])
def test_url_virtual_host_with_unencoded_slash_is_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="one segment"):
        URLParameters(url)


@pytest.mark.parametrize(
    "url, user, password",
    [
        ("amqp://alice:secret@host", "alice", "secret"),
        ("amqp://al%69ce:se%63ret@host", "alice", "secret"),
        ("amqp://us%40er:p%3Aa%2Fs%23s%3F@host", "us@er", "p:a/s#s?"),
        ("amqp://user:pa+ss@host", "user", "pa+ss"),
        ("amqp://user:p%C3%A4ss@host", "user", "päss"),
        ("amqp://user:pa:ss@host", "user", "pa:ss"),
        ("amqp://:@host", "", ""),
        ("amqp://:secret@host", "", "secret"),
        ("amqp://alice@host", "alice", "guest"),  # RabbitMQ URI spec: absent password = default
        ("amqp://alice:@host", "alice", ""),
    ],
)
def test_url_credentials(url: str, user: str, password: str) -> None:
    assert URLParameters(url).credentials == PlainCredentials(user, password)


def test_url_without_userinfo_keeps_default_credentials() -> None:
    assert URLParameters("amqp://host").credentials == PlainCredentials("guest", "guest")


@pytest.mark.parametrize(
    "url, host, port",
    [
        ("amqp://rabbit.example", "rabbit.example", 5672),
        ("amqp://RABBIT.Example:1", "rabbit.example", 1),
        ("amqp://127.0.0.1:65535", "127.0.0.1", 65535),
        ("amqp://[::1]", "::1", 5672),
        ("amqp://[::1]:5673", "::1", 5673),
        ("amqp://user:pw@[2001:db8::10]:5673/v", "2001:db8::10", 5673),
        ("amqp://[fe80::1%25eth0]:5672", "fe80::1%eth0", 5672),
        ("amqp://ho%73t", "host", 5672),
        ("amqp://", "localhost", 5672),
        ("amqp://:5673", "localhost", 5673),
        ("amqp://host:", "host", 5672),
        ("amqps://host", "host", 5671),
        ("amqps://host:5672", "host", 5672),
        ("amqps://[::1]", "::1", 5671),
    ],
)
def test_url_host_and_port(url: str, host: str, port: int) -> None:
    params = URLParameters(url)
    assert (params.host, params.port) == (host, port)


def test_amqps_builds_a_verifying_context_with_sni() -> None:
    params = URLParameters("amqps://Rabbit.Example/")
    options = params.ssl_options
    assert options is not None
    assert isinstance(options.context, ssl.SSLContext)
    assert options.server_hostname == "rabbit.example"
    assert options.context.verify_mode == ssl.CERT_REQUIRED
    assert options.context.check_hostname is True
    assert URLParameters("amqps://[::1]").ssl_options.server_hostname == "::1"  # type: ignore[union-attr]


def test_surrounding_whitespace_is_ignored() -> None:
    assert URLParameters("  amqp://h:1/v\n") == URLParameters("amqp://h:1/v")


def test_scheme_is_case_insensitive() -> None:
    assert URLParameters("AMQPS://host").ssl_options is not None
    assert URLParameters("AMQP://host").ssl_options is None


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://host", "unsupported URL scheme 'http'"),
        ("amqpx://host", "unsupported URL scheme 'amqpx'"),
        ("//host", "unsupported URL scheme (none)"),
        ("host:5672", "unsupported URL scheme 'host'"),
        ("", "unsupported URL scheme (none)"),
        ("amqp:host", "malformed URL"),
        ("amqp:/host", "malformed URL"),
        ("amqp://[::1", "malformed URL"),
        ("amqp://host#frag", "'#' fragment"),
        ("amqp://host/#", "'#' fragment"),
        ("amqp://host:abc", "port must be an integer in 1..65535"),
        ("amqp://host:70000", "port must be an integer in 1..65535"),
        ("amqp://host:-1", "port must be an integer in 1..65535"),
        ("amqp://host:0", "port must be in 1..65535"),
        ("amqp://h%FFost", "host is not valid percent-encoded UTF-8"),
        ("amqp://u%FF:p@host", "user name is not valid percent-encoded UTF-8"),
        ("amqp://u:p%FF@host", "password is not valid percent-encoded UTF-8"),
        ("amqp://host/v%FF", "virtual host is not valid percent-encoded UTF-8"),
        ("amqp://u:p%00@host", "password must not contain a NUL"),
        ("amqp://host?heartbeat=%FF", "query string is not valid percent-encoded UTF-8"),
    ],
)
def test_malformed_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        URLParameters(url)
    assert message in str(info.value)


@pytest.mark.parametrize("bad", [None, b"amqp://host", 5])
def test_url_must_be_a_str(bad: Any) -> None:
    with pytest.raises(TypeError, match="url must be a str"):
        URLParameters(bad)


# ==============================================================================================
# URLParameters: query parameters
# ==============================================================================================

QUERY_VALUES: List[Tuple[str, str, Any]] = [
    ("blocked_connection_timeout", "30", 30.0),
    ("blocked_connection_timeout", "0", 0.0),
    ("blocked_connection_timeout", "2.5", 2.5),
    ("channel_max", "100", 100),
    ("client_properties", "{'connection_name':'svc','x':[1,2]}",
     {"connection_name": "svc", "x": [1, 2]}),
    ("client_properties", "None", None),
    ("connection_attempts", "5", 5),
    ("frame_max", "8192", 8192),
    ("heartbeat", "0", 0),
    ("heartbeat", "600", 600),
    ("locale", "fr_FR", "fr_FR"),
    ("locale", "en%5FUS", "en_US"),
    ("locale", "a+b", "a b"),  # form-encoding in the query, as in pika
    ("retry_delay", "0.5", 0.5),
    ("retry_delay", "3", 3.0),
    ("socket_timeout", "0.25", 0.25),
    ("stack_timeout", "20", 20.0),
    ("tcp_options", "{'TCP_KEEPIDLE':60,'TCP_KEEPINTVL':10}",
     {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 10}),
    ("tcp_options", "None", None),
]  # fmt: skip


@pytest.mark.parametrize("key, text, expected", QUERY_VALUES)
def test_query_parameter(key: str, text: str, expected: Any) -> None:
    params = URLParameters(f"amqp://host/?{key}={text}")
    assert getattr(params, key) == expected


def test_every_pika_query_key_is_accepted() -> None:
    url = (
        "amqps://u:p@host/v?blocked_connection_timeout=1&channel_max=2&client_properties={}"
        "&connection_attempts=3&frame_max=4096&heartbeat=5&locale=l&retry_delay=6"
        "&socket_timeout=7&stack_timeout=8&ssl_options={'verify':False}&tcp_options={}"
    )
    params = URLParameters(url)
    assert params.blocked_connection_timeout == 1.0 and params.channel_max == 2
    assert params.client_properties == {} and params.connection_attempts == 3
    assert params.frame_max == 4096 and params.heartbeat == 5 and params.locale == "l"
    assert params.retry_delay == 6.0 and params.socket_timeout == 7.0
    assert params.stack_timeout == 8.0 and params.tcp_options == {}
    assert params.ssl_options is not None
    assert params.ssl_options.context.verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize(
    "query, error, fragments",
    [
        ("heartbeat=abc", ValueError, ["heartbeat", "'abc'", "not an integer"]),
        ("heartbeat=1.5", ValueError, ["heartbeat", "'1.5'"]),
        ("heartbeat=", ValueError, ["heartbeat", "''"]),
        ("heartbeat=-1", ValueError, ["heartbeat must be in 0..65535", "-1"]),
        ("channel_max=x", ValueError, ["channel_max", "'x'"]),
        ("channel_max=0", ValueError, ["channel_max must be in 1..65535", "0"]),
        ("connection_attempts=0", ValueError, ["connection_attempts", "0"]),
        ("connection_attempts=two", ValueError, ["connection_attempts", "'two'"]),
        ("frame_max=100", ValueError, ["frame_max must be in 4096", "100"]),
        ("frame_max=big", ValueError, ["frame_max", "'big'"]),
        ("retry_delay=soon", ValueError, ["retry_delay", "'soon'", "not a number"]),
        ("retry_delay=-1", ValueError, ["retry_delay must be >= 0"]),
        ("retry_delay=nan", ValueError, ["retry_delay must be a finite number"]),
        ("socket_timeout=0", ValueError, ["socket_timeout must be > 0"]),
        ("socket_timeout=inf", ValueError, ["socket_timeout must be a finite number"]),
        ("socket_timeout=None", ValueError, ["socket_timeout", "'None'"]),
        ("stack_timeout=-5", ValueError, ["stack_timeout must be > 0"]),
        ("stack_timeout=x", ValueError, ["stack_timeout", "'x'"]),
        ("blocked_connection_timeout=-1", ValueError, ["blocked_connection_timeout must be >= 0"]),
        ("blocked_connection_timeout=z", ValueError, ["blocked_connection_timeout", "'z'"]),
        ("locale=" + "x" * 256, ValueError, ["locale must encode to at most 255"]),
        ("tcp_options={'TCP_NODELAY':1}", ValueError, ["unknown tcp_options key 'TCP_NODELAY'"]),
        ("tcp_options=[1]", TypeError, ["tcp_options must be a dict or None"]),
        ("tcp_options={bad", ValueError, ["tcp_options", "{bad", "not a Python literal"]),
        ("tcp_options=open('x')", ValueError, ["tcp_options", "not a Python literal"]),
        ("client_properties=[1]", TypeError, ["client_properties must be a dict or None"]),
        ("client_properties={1:2}", TypeError, ["client_properties keys must be str"]),
        ("client_properties=x", ValueError, ["client_properties", "'x'", "not a Python literal"]),
    ],
)
def test_bad_query_values(query: str, error: Type[Exception], fragments: List[str]) -> None:
    with pytest.raises(error) as info:
        URLParameters(f"amqp://host/?{query}")
    assert type(info.value) is error
    for fragment in fragments:
        assert fragment in str(info.value)


def test_unknown_query_key_is_named() -> None:
    with pytest.raises(ValueError) as info:
        URLParameters("amqp://host/?heartbeet=5")
    assert "unknown URL query parameter 'heartbeet'" in str(info.value)
    assert "heartbeat" in str(info.value)  # the accepted keys are listed


@pytest.mark.parametrize(
    "key, hint",
    [
        ("backpressure_detection", "removed in pika 1.0"),
        ("heartbeat_interval", "renamed 'heartbeat'"),
        ("ssl", "amqps://"),
    ],
)
def test_pika_0x_query_keys_are_rejected_with_a_hint(key: str, hint: str) -> None:
    with pytest.raises(ValueError) as info:
        URLParameters(f"amqp://host/?{key}=t")
    assert repr(key) in str(info.value) and hint in str(info.value)


def test_repeated_query_key_is_named_without_its_values() -> None:
    with pytest.raises(ValueError) as info:
        URLParameters("amqp://host/?heartbeat=5&channel_max=3&heartbeat=7")
    assert "'heartbeat' is given more than once" in str(info.value)
    assert "7" not in str(info.value)


def test_repeated_ssl_options_never_echo_the_key_password() -> None:
    opts = f"{{'password':'{SECRET}'}}"
    with pytest.raises(ValueError) as info:
        URLParameters(f"amqps://host/?ssl_options={opts}&ssl_options={opts}")
    assert SECRET not in exception_text(info.value)


def test_empty_query_fields_are_ignored() -> None:
    assert URLParameters("amqp://host/?&heartbeat=5&&").heartbeat == 5
    assert URLParameters("amqp://host/?") == URLParameters("amqp://host")


# ==============================================================================================
# URLParameters: ssl_options
# ==============================================================================================


def ssl_url(opts: str, scheme: str = "amqps") -> URLParameters:
    """URLParameters with ``opts`` percent-encoded as the ssl_options query value."""
    return URLParameters(f"{scheme}://Rabbit.Example/?ssl_options={quote(opts, safe='')}")


def test_ssl_options_none_on_amqp_is_plain() -> None:
    params = ssl_url("None", scheme="amqp")
    assert params.ssl_options is None and params.port == 5672


def test_ssl_options_none_contradicts_amqps() -> None:
    with pytest.raises(ValueError, match="ssl_options=None contradicts amqps"):
        ssl_url("None")


def test_ssl_options_on_amqp_turns_tls_on_with_the_tls_port() -> None:
    params = ssl_url("{}", scheme="amqp")
    assert params.ssl_options is not None and params.port == 5671
    assert URLParameters("amqp://h:5672/?ssl_options={}").port == 5672


def test_ssl_options_defaults_verify_and_use_the_host_for_sni() -> None:
    options = ssl_url("{}").ssl_options
    assert options is not None
    assert options.server_hostname == "rabbit.example"
    assert options.context.verify_mode == ssl.CERT_REQUIRED
    assert options.context.check_hostname is True


@pytest.mark.parametrize(
    "opts, verify_mode, check_hostname",
    [
        ("{'verify': True}", ssl.CERT_REQUIRED, True),
        ("{'verify': False}", ssl.CERT_NONE, False),
        ("{'cert_reqs': 'CERT_NONE'}", ssl.CERT_NONE, False),
        ("{'cert_reqs': 'CERT_OPTIONAL'}", ssl.CERT_OPTIONAL, True),
        ("{'cert_reqs': 'CERT_REQUIRED'}", ssl.CERT_REQUIRED, True),
        ("{'cert_reqs': 0}", ssl.CERT_NONE, False),
        ("{'cert_reqs': 1}", ssl.CERT_OPTIONAL, True),
        ("{'cert_reqs': 2}", ssl.CERT_REQUIRED, True),
        ("{'check_hostname': False}", ssl.CERT_REQUIRED, False),
        ("{'cert_reqs': 'CERT_REQUIRED', 'check_hostname': False}", ssl.CERT_REQUIRED, False),
        ("{'verify': False, 'check_hostname': False}", ssl.CERT_NONE, False),
    ],
)
def test_ssl_verification_options(opts: str, verify_mode: int, check_hostname: bool) -> None:
    options = ssl_url(opts).ssl_options
    assert options is not None
    assert options.context.verify_mode == verify_mode
    assert options.context.check_hostname is check_hostname


@pytest.mark.parametrize(
    "opts, server_hostname",
    [("{'server_hostname': 'sni.example'}", "sni.example"), ("{'server_hostname': None}", None)],
)
def test_ssl_server_hostname(opts: str, server_hostname: Any) -> None:
    options = ssl_url(opts).ssl_options
    assert options is not None and options.server_hostname == server_hostname


@pytest.mark.parametrize("cafile_key", ["cafile", "ca_certs"])
def test_ssl_ca_file(pem_files: Tuple[str, str], cafile_key: str) -> None:
    cert, _key = pem_files
    options = ssl_url(f"{{'{cafile_key}': {cert!r}}}").ssl_options
    assert options is not None
    cas: List[Any] = options.context.get_ca_certs()
    subjects = [dict(rdn[0] for rdn in ca["subject"]) for ca in cas]
    assert {"commonName": "amqpbase-test"} in subjects


@pytest.mark.parametrize("capath_key", ["capath", "ca_path"])
def test_ssl_ca_path(tmp_path: Path, capath_key: str) -> None:
    assert ssl_url(f"{{'{capath_key}': {str(tmp_path)!r}}}").ssl_options is not None


@pytest.mark.parametrize("cadata_key", ["cadata", "ca_data"])
def test_ssl_ca_data(cadata_key: str) -> None:
    options = ssl_url(f"{{'{cadata_key}': {TEST_CERT!r}}}").ssl_options
    assert options is not None and options.context.cert_store_stats()["x509_ca"] >= 1


def test_ssl_client_certificate_with_key_password(pem_files: Tuple[str, str]) -> None:
    cert, key = pem_files
    opts = f"{{'certfile': {cert!r}, 'keyfile': {key!r}, 'password': {KEY_PASSWORD!r}}}"
    assert ssl_url(opts).ssl_options is not None


def test_ssl_wrong_key_password_is_not_echoed(pem_files: Tuple[str, str]) -> None:
    cert, key = pem_files
    opts = f"{{'certfile': {cert!r}, 'keyfile': {key!r}, 'password': {SECRET!r}}}"
    with pytest.raises(ValueError) as info:
        ssl_url(opts)
    assert "cannot set up the TLS context" in str(info.value)
    assert SECRET not in exception_text(info.value)


def test_ssl_ciphers() -> None:
    assert ssl_url("{'ciphers': 'ECDHE+AESGCM'}").ssl_options is not None
    with pytest.raises(ValueError, match="cannot set up the TLS context"):
        ssl_url("{'ciphers': 'NO-SUCH-CIPHER'}")


@pytest.mark.parametrize(
    "opts, error, message",
    [
        ("{'protocol': 2}", ValueError, "unknown ssl_options key 'protocol'"),
        ("{'foo bar': 1}", ValueError, "unknown ssl_options key (name not shown)"),
        ("{1: 'x'}", TypeError, "ssl_options keys must be str"),
        ("{'cafile': 'a', 'ca_certs': 'b'}", ValueError, "'cafile' is given twice"),
        ("{'verify': False, 'cert_reqs': 0}", ValueError, "either 'verify' or 'cert_reqs'"),
        ("{'keyfile': 'k.pem'}", ValueError, "'keyfile' and 'password' need 'certfile'"),
        ("{'password': 'x'}", ValueError, "need 'certfile'"),
        ("{'verify': 'no'}", TypeError, "ssl_options['verify'] has the wrong type str"),
        ("{'verify': 0}", TypeError, "ssl_options['verify'] has the wrong type int"),
        ("{'check_hostname': 1}", TypeError, "ssl_options['check_hostname'] has the wrong type"),
        ("{'cert_reqs': True}", TypeError, "ssl_options['cert_reqs'] has the wrong type bool"),
        ("{'cert_reqs': 1.0}", TypeError, "ssl_options['cert_reqs'] has the wrong type float"),
        ("{'cert_reqs': 'CERT_SOME'}", ValueError, "ssl_options['cert_reqs'] must be"),
        ("{'cert_reqs': 3}", ValueError, "ssl_options['cert_reqs'] must be"),
        ("{'cafile': 5}", TypeError, "ssl_options['cafile'] has the wrong type int"),
        ("{'server_hostname': 5}", TypeError, "ssl_options['server_hostname'] has the wrong type"),
        ("{'verify': False, 'check_hostname': True}", ValueError, "check_hostname=True needs"),
        ("{'cafile': '/nonexistent/ca.pem'}", ValueError, "cannot set up the TLS context"),
        ("{'certfile': '/nonexistent/c.pem'}", ValueError, "cannot set up the TLS context"),
        ("[1]", TypeError, "ssl_options must be a dict or None"),
        ("{bad", ValueError, "ssl_options (value not shown) is not a Python literal"),
    ],
)
def test_bad_ssl_options(opts: str, error: Type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        ssl_url(opts)
    assert type(info.value) is error
    assert message in str(info.value)


def test_ssl_options_value_is_never_echoed_on_a_syntax_error() -> None:
    with pytest.raises(ValueError) as info:
        ssl_url(f"{{'password': '{SECRET}'")
    assert SECRET not in exception_text(info.value)


def test_ssl_options_password_is_never_echoed_on_a_type_error() -> None:
    with pytest.raises(TypeError) as info:
        ssl_url(f"{{'password': ['{SECRET}']}}")
    assert SECRET not in exception_text(info.value)


# ==============================================================================================
# Passwords never appear in exception text
# ==============================================================================================

LEAKY_URLS = [
    # Unencoded special characters in the password make the rest of the URL misparse.
    f"amqp://user:{SECRET}#x@host/",
    f"amqp://user:{SECRET}/x@host/",
    f"amqp://user:1234/{SECRET}/@host/",
    f"amqp://user:1234?{SECRET}@host",
    f"amqp://user:1234?x={SECRET}@host",
    f"amqp://user:1234?heartbeat={SECRET}@host",
    f"amqp://user:1234?retry_delay={SECRET}@host",
    f"amqp://user:1234?tcp_options={SECRET}@host",
    f"amqp://user:{SECRET}%FF@host/",
    f"amqp://user:{SECRET}%00@host/",
    f"http://user:{SECRET}@host/",
    f"amqp://user:{SECRET}@host:99999/",
    f"amqp://user:{SECRET}@host:0/",
    f"amqp://user:{SECRET}@host/a/b",
    f"amqp://user:{SECRET}@host/?bogus=1",
    f"amqp://user:{SECRET}@host/?heartbeat=1&heartbeat=2",
    f"amqp://user:{SECRET}@[::1/",
]


@pytest.mark.parametrize("url", LEAKY_URLS)
def test_url_errors_never_show_the_password(url: str) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        URLParameters(url)
    assert SECRET not in exception_text(info.value)


# ==============================================================================================
# build_client_properties
# ==============================================================================================


def test_default_client_properties() -> None:
    props = build_client_properties(ConnectionParameters())
    assert props == {
        "product": "amqpbase",
        "platform": f"Python {platform.python_version()}",
        "version": "0.1.0",
        "information": parameters.INFORMATION,
        "capabilities": {
            "authentication_failure_close": True,
            "basic.nack": True,
            "connection.blocked": True,
            "consumer_cancel_notify": True,
            "exchange_exchange_bindings": True,
            "publisher_confirms": True,
        },
    }
    assert dict(CAPABILITIES) == props["capabilities"]


def test_client_version_comes_from_the_package() -> None:
    package = sys.modules["amqpbase"]
    expected = getattr(package, "__version__", CLIENT_VERSION)
    assert build_client_properties(ConnectionParameters())["version"] == expected
    assert CLIENT_VERSION == "0.1.0"


def test_user_client_properties_are_merged_over_the_defaults() -> None:
    params = ConnectionParameters(
        client_properties={
            "connection_name": "orders-worker",
            "product": "my-app",
            "information": "ops@example",
            "capabilities": {"basic.nack": False, "x-custom": True},
            "extra": {"nested": [1, 2]},
        }
    )
    props = build_client_properties(params)
    assert props["connection_name"] == "orders-worker"
    assert props["product"] == "my-app" and props["information"] == "ops@example"
    assert props["platform"].startswith("Python ") and props["version"]
    assert props["capabilities"] == {**CAPABILITIES, "basic.nack": False, "x-custom": True}
    assert props["extra"] == {"nested": [1, 2]}


def test_url_client_properties_reach_the_table() -> None:
    params = URLParameters("amqp://h/?client_properties={'connection_name':'from-url'}")
    assert build_client_properties(params)["connection_name"] == "from-url"


def test_client_properties_result_is_independent() -> None:
    params = ConnectionParameters(client_properties={"capabilities": {"a": True}, "l": [1]})
    props = build_client_properties(params)
    props["capabilities"]["a"] = False
    props["capabilities"]["basic.nack"] = False
    props["l"].append(2)
    assert params.client_properties == {"capabilities": {"a": True}, "l": [1]}
    assert build_client_properties(params)["capabilities"]["basic.nack"] is True
    assert CAPABILITIES["basic.nack"] is True


def test_client_properties_contain_no_credentials() -> None:
    params = ConnectionParameters(credentials=PlainCredentials("alice", SECRET))
    assert SECRET not in repr(build_client_properties(params))


def test_parameters_can_be_deep_copied() -> None:
    params = URLParameters("amqp://u:p@h:1/v?heartbeat=3&client_properties={'a':1}")
    clone = copy.deepcopy(params)
    assert clone == params and clone is not params


def test_url_parameters_do_not_write_their_host_into_a_shared_default_ssl_options() -> None:
    """A subclass's class-level DEFAULT_SSL_OPTIONS is shared by every instance: parsing a
    URL must give that instance its own SSLOptions (same context) rather than mutate it."""
    import ssl

    from amqpbase.parameters import SSLOptions, URLParameters

    shared = SSLOptions(ssl.create_default_context())

    class WithTLS(URLParameters):
        DEFAULT_SSL_OPTIONS = shared

    first = WithTLS("amqp://one.example/")
    second = WithTLS("amqp://two.example/")
    assert shared.server_hostname is None
    assert first.ssl_options is not None and second.ssl_options is not None
    assert (first.ssl_options.server_hostname, second.ssl_options.server_hostname) == (
        "one.example",
        "two.example",
    )
    assert first.ssl_options.context is shared.context
