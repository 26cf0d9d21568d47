"""Connection parameters: ``Parameters``, ``ConnectionParameters``, ``URLParameters``,
``SSLOptions`` and :func:`build_client_properties` (pika 1.x compatible names and defaults).

Contract:

* Every attribute of :class:`Parameters` validates on assignment (constructors included): a
  wrong *type* raises ``TypeError`` (``bool`` is never accepted as an int or a number, and
  nothing is parsed from strings), a right type out of range raises ``ValueError``; each
  message names the attribute. A rejected assignment changes nothing.
* Secrets never appear in ``repr()``/``str()`` nor in the text (or chained causes) of any
  exception raised here: credentials are reported by type only, the ``ssl_options`` query value
  is never echoed, and URL errors never quote a part that can hold a misparsed password.
* No I/O and no loop: ``ssl.SSLContext`` objects are created and configured, never used.

Stricter than pika 1.x (each would otherwise fail later, or silently do the wrong thing):
``port`` must be an int in 1..65535 (pika called ``int()`` on anything); ``host`` non-empty;
``retry_delay`` >= 0; ``heartbeat`` <= 65535 (a short on the wire); ``virtual_host``,
``locale`` and client-property keys at most 255 UTF-8 bytes (shortstr); client-property values
encodable as AMQP field values; ``host`` without whitespace or control characters; timeouts
finite;
``tcp_options`` keys from :data:`TCP_OPTION_NAMES` with int values (pika warned at connect
time); ``frame_max`` up to 2**31-1 (pika capped it at 131072). Equality compares every
attribute (pika: host and port only). URL differences are listed on :class:`URLParameters`.
"""

from __future__ import annotations

import copy
import enum
import math
import numbers
import platform
import ssl
import sys
from typing import (
    Any,
    Callable,
    Dict,
    Final,
    FrozenSet,
    Generic,
    Mapping,
    Optional,
    Tuple,
    TypeVar,
    Union,
    cast,
    overload,
)

from amqpbase import fieldtable
from amqpbase._amqp_url import iter_query, split_url, tls_settings_from_query
from amqpbase.credentials import VALID_TYPES, CredentialsType, PlainCredentials
from amqpbase.instrument import Observer

__all__ = [
    "CLIENT_VERSION", "PRODUCT", "TCP_OPTION_NAMES", "ConnectionParameters", "HeartbeatType",
    "Parameters", "SSLOptions", "URLParameters", "build_client_properties",
]  # fmt: skip

#: Client version reported to the broker when ``amqpbase.__version__`` is not available.
CLIENT_VERSION: Final = "0.1.0"
#: ``product`` client property.
PRODUCT: Final = "amqpbase"
#: ``information`` client property.
INFORMATION: Final = "amqpbase: AMQP 0-9-1 client for RabbitMQ with a pika-compatible API"
#: Capabilities amqpbase implements and advertises in ``Connection.StartOk``.
CAPABILITIES: Final[Mapping[str, bool]] = {
    "authentication_failure_close": True,
    "basic.nack": True,
    "connection.blocked": True,
    "consumer_cancel_notify": True,
    "exchange_exchange_bindings": True,
    "publisher_confirms": True,
}

#: Keys accepted in ``tcp_options`` (pika's set; whether the running OS supports each one is
#: the adapter's business: it skips an option the platform lacks, with a warning, as pika does).
TCP_OPTION_NAMES: Final[FrozenSet[str]] = frozenset(
    {"TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_USER_TIMEOUT"}
)

MAX_CHANNELS: Final = 65535  # AMQP channel numbers are a short; 0 is the connection
FRAME_MIN_SIZE: Final = 4096  # AMQP 0-9-1 section 4.2.1
FRAME_MAX_LIMIT: Final = 2**31 - 1
HEARTBEAT_MAX: Final = 65535  # Connection.TuneOk heartbeat is a short
_SHORTSTR_MAX: Final = 255
_C_INT_MAX: Final = 2**31 - 1  # setsockopt() takes a C int

#: ``heartbeat``: None (accept the broker's proposal), seconds (0 disables heartbeats), or
#: ``callable(connection, broker_proposal) -> seconds`` called during Connection.Tune.
HeartbeatType = Optional[Union[int, Callable[[Any, int], int]]]


class _DefaultType(enum.Enum):
    """Type of the "argument not given" marker of :class:`ConnectionParameters`."""

    DEFAULT = "DEFAULT"

    def __repr__(self) -> str:
        return "<default>"


_DEFAULT: Final = _DefaultType.DEFAULT


# -- Validators: validate(name, value) -> stored value; errors name the attribute ---------------

T = TypeVar("T")
_Validator = Callable[[str, Any], T]


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, followed by its type name."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{text} ({type(value).__name__})"


def _require_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, but got {_shown(value)}")
    result = int(value)
    if not low <= result <= high:
        raise ValueError(f"{name} must be in {low}..{high}, but got {result!r}")
    return result


def _int_in(low: int, high: int) -> _Validator[int]:
    return lambda name, value: _require_int(name, value, low, high)


def _number(*, allow_zero: bool) -> _Validator[float]:
    """A finite real number > 0 (or >= 0 with ``allow_zero``), stored as float."""

    def validate(name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be an int or float, but got {_shown(value)}")
        result = float(value)
        if not math.isfinite(result):
            raise ValueError(f"{name} must be a finite number, but got {result!r}")
        if result < 0 or (result == 0 and not allow_zero):
            raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, but got {value!r}")
        return result

    return validate


def _optional(validate: _Validator[T]) -> _Validator[Optional[T]]:
    return lambda name, value: None if value is None else validate(name, value)


def _shortstr(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, but got {_shown(value)}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not encodable as UTF-8") from None
    if size > _SHORTSTR_MAX:
        raise ValueError(f"{name} must encode to at most {_SHORTSTR_MAX} UTF-8 bytes, got {size}")
    return value


def _host(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, but got {_shown(value)}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    # No host name or IP literal holds whitespace or a control character; caught here, a stray
    # newline (from a file or an environment variable) or a NUL is a clear error instead of a
    # loop-specific resolver failure at connect time.
    if any(char.isspace() or not char.isprintable() for char in value):
        raise ValueError(f"{name} must not contain whitespace or control characters: {value!r}")
    return value


def _credentials(name: str, value: Any) -> CredentialsType:
    if not isinstance(value, tuple(VALID_TYPES)):
        names = ", ".join(cls.__name__ for cls in VALID_TYPES)
        # The type only: a wrongly passed (user, password) tuple must not be echoed.
        raise TypeError(f"{name} must be one of {names}, but got {type(value).__name__}")
    # A deep copy like pika: erase_credentials() must not touch the caller's object.
    return cast(CredentialsType, copy.deepcopy(value))


def _heartbeat(name: str, value: Any) -> HeartbeatType:
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return _require_int(name, value, 0, HEARTBEAT_MAX)
    if callable(value):
        return cast(Callable[[Any, int], int], value)
    raise TypeError(f"{name} must be None, an int or a callable, but got {_shown(value)}")


def _ssl_options(name: str, value: Any) -> Optional[SSLOptions]:
    if value is not None and not isinstance(value, SSLOptions):
        raise TypeError(f"{name} must be an SSLOptions or None, but got {type(value).__name__}")
    return value


def _client_properties(name: str, value: Any) -> Optional[Dict[str, Any]]:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict or None, but got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"{name} keys must be str, but got a {type(key).__name__} key")
        _shortstr(f"{name} key", key)
    for key, kind in (("capabilities", dict), ("connection_name", str)):
        if key in value and not isinstance(value[key], kind):
            raise TypeError(
                f"{name}[{key!r}] must be a {kind.__name__}, but got {type(value[key]).__name__}"
            )
    # The table goes into Connection.StartOk: encode it now, so that a value the codec refuses
    # fails here and not in the middle of the handshake. (The defaults it is merged over are
    # encodable, so the merged table is too.)
    try:
        fieldtable.encode_table(value)
    except TypeError as exc:  # a nested table with a non-str key
        raise TypeError(f"{name} cannot be encoded as an AMQP field table: {exc}") from None
    except ValueError as exc:  # UnsupportedAMQPFieldException, ShortStringTooLong, Unicode...
        raise ValueError(f"{name} cannot be encoded as an AMQP field table: {exc}") from None
    return copy.deepcopy(value)


def _observer(name: str, value: Any) -> Optional[Observer]:
    if value is None or isinstance(value, Observer):
        return value
    raise TypeError(f"{name} must be None or an amqpbase.instrument.Observer, got "
                    f"{_shown(value)}")


def _tcp_options(name: str, value: Any) -> Optional[Dict[str, int]]:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict or None, but got {type(value).__name__}")
    checked: Dict[str, int] = {}
    for key, option in value.items():
        if not isinstance(key, str):
            raise TypeError(f"{name} keys must be str, but got {_shown(key)}")
        if key not in TCP_OPTION_NAMES:
            raise ValueError(
                f"unknown {name} key {key!r}; expected one of {', '.join(sorted(TCP_OPTION_NAMES))}"
            )
        checked[key] = _require_int(f"{name}[{key!r}]", option, 0, _C_INT_MAX)
    return checked


class _Setting(Generic[T]):
    """A validated attribute (what pika writes as a property with a checking setter).

    Reading returns the value stored in the slot ``_<name>``; assigning stores
    ``validate(name, value)``, which raises ``TypeError``/``ValueError`` naming the attribute.
    """

    def __init__(self, validate: _Validator[T], doc: str) -> None:
        self._validate = validate
        self._name = self._slot = ""
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self._name, self._slot = name, "_" + name

    @overload
    def __get__(self, obj: None, owner: Optional[type] = None) -> _Setting[T]: ...

    @overload
    def __get__(self, obj: object, owner: Optional[type] = None) -> T: ...

    def __get__(self, obj: Optional[object], owner: Optional[type] = None) -> Any:
        return self if obj is None else getattr(obj, self._slot)

    def __set__(self, obj: object, value: T) -> None:
        setattr(obj, self._slot, self._validate(self._name, value))


# -- SSLOptions --------------------------------------------------------------------------------


class SSLOptions:
    """TLS settings: the ``ssl.SSLContext`` to wrap the socket with, and the SNI host name.

    :param context: a configured ``ssl.SSLContext`` (``TypeError`` otherwise). It is kept by
        reference: changes made to it later are seen by connections opened later.
    :param server_hostname: host name for SNI and certificate matching; ``None`` lets the
        adapter use ``parameters.host``.

    Two ``SSLOptions`` are equal when they hold the *same* context object and host name.
    """

    __slots__ = ("context", "server_hostname")

    def __init__(self, context: ssl.SSLContext, server_hostname: Optional[str] = None) -> None:
        if not isinstance(context, ssl.SSLContext):
            raise TypeError(f"context must be an ssl.SSLContext, but got {_shown(context)}")
        if server_hostname is not None and not isinstance(server_hostname, str):
            raise TypeError(
                f"server_hostname must be a str or None, but got {_shown(server_hostname)}"
            )
        self.context: ssl.SSLContext = context
        self.server_hostname: Optional[str] = server_hostname

    def __repr__(self) -> str:
        return f"<SSLOptions server_hostname={self.server_hostname!r}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SSLOptions):
            return self.context is other.context and self.server_hostname == other.server_hostname
        return NotImplemented

    def __hash__(self) -> int:
        return hash((id(self.context), self.server_hostname))


# -- Parameters --------------------------------------------------------------------------------


class Parameters:
    """Base of the parameter classes: every attribute at its default, each one validated.

    Subclasses (and users) may override the ``DEFAULT_*`` class attributes; ``__init__`` reads
    them through ``self``. ``__slots__`` makes a misspelt attribute an ``AttributeError``.

    Equality: two parameter objects are equal when every attribute is equal (credentials by
    value, ``ssl_options`` by context identity, a heartbeat callable by identity). pika 1.x
    compared host and port only; comparing everything is what equality should mean.
    """

    __slots__ = (
        "_blocked_connection_timeout", "_channel_max", "_client_properties",
        "_connection_attempts", "_credentials", "_frame_max", "_heartbeat", "_host", "_locale",
        "_port", "_retry_delay", "_socket_timeout", "_stack_timeout", "_ssl_options",
        "_virtual_host", "_tcp_options", "_observer",
    )  # fmt: skip

    DEFAULT_USERNAME: str = "guest"
    DEFAULT_PASSWORD: str = "guest"

    DEFAULT_BLOCKED_CONNECTION_TIMEOUT: Optional[float] = None
    DEFAULT_CHANNEL_MAX: int = MAX_CHANNELS
    DEFAULT_CLIENT_PROPERTIES: Optional[Dict[str, Any]] = None
    DEFAULT_CREDENTIALS: CredentialsType = PlainCredentials(DEFAULT_USERNAME, DEFAULT_PASSWORD)
    DEFAULT_CONNECTION_ATTEMPTS: int = 1
    DEFAULT_FRAME_MAX: int = 131072
    DEFAULT_HEARTBEAT_TIMEOUT: HeartbeatType = None  # None accepts the broker's proposal
    DEFAULT_HOST: str = "localhost"
    DEFAULT_LOCALE: str = "en_US"
    DEFAULT_PORT: int = 5672
    DEFAULT_RETRY_DELAY: float = 2.0
    DEFAULT_SOCKET_TIMEOUT: Optional[float] = 10.0
    DEFAULT_STACK_TIMEOUT: Optional[float] = 15.0
    DEFAULT_SSL: bool = False
    DEFAULT_SSL_OPTIONS: Optional[SSLOptions] = None
    DEFAULT_SSL_PORT: int = 5671
    DEFAULT_VIRTUAL_HOST: str = "/"
    DEFAULT_TCP_OPTIONS: Optional[Dict[str, int]] = None
    DEFAULT_OBSERVER: Optional[Observer] = None

    blocked_connection_timeout = _Setting(
        _optional(_number(allow_zero=True)),
        """Seconds the broker may keep the connection blocked (Connection.Blocked) before it is
        torn down with ``ConnectionBlockedTimeout``: ``None`` (wait forever, the default) or a
        finite number >= 0 (pika accepts 0: give up as soon as blocked), stored as float.""",
    )
    channel_max = _Setting(
        _int_in(1, MAX_CHANNELS),
        """Highest channel number to ask for, an int in 1..65535 (default 65535); the lower of
        this and the broker's value is used.""",
    )
    client_properties = _Setting(
        _client_properties,
        """``None`` or a dict merged over the default client properties of Connection.StartOk
        (see :func:`build_client_properties`); ``connection_name`` names the connection in the
        management UI. Stored as a deep copy. Keys must be str of at most 255 UTF-8 bytes;
        ``capabilities`` must be a dict and ``connection_name`` a str; every value must be
        encodable as an AMQP field value (``ValueError`` otherwise, ``TypeError`` for a
        non-str key in a nested table).""",
    )
    connection_attempts = _Setting(
        _int_in(1, sys.maxsize),
        """How many times to try to open the connection, an int >= 1 (default 1); see
        ``retry_delay``.""",
    )
    credentials = _Setting(
        _credentials,
        """An instance of a class in ``amqpbase.credentials.VALID_TYPES`` (or a subclass),
        stored as a deep copy like pika. Default ``PlainCredentials('guest', 'guest')``.""",
    )
    frame_max = _Setting(
        _int_in(FRAME_MIN_SIZE, FRAME_MAX_LIMIT),
        """Largest frame to accept, an int in 4096..2**31-1 (default 131072); the lower of this
        and the broker's value is used.""",
    )
    heartbeat = _Setting(
        _heartbeat,
        """Heartbeat timeout negotiation: ``None`` accepts the broker's proposal (default); an
        int in 0..65535 overrides it (0 disables heartbeats); a callable is called as
        ``callable(connection, broker_proposal)`` during tuning and returns the int to use.""",
    )
    host = _Setting(
        _host,
        """Broker host name or IP address, a non-empty str without whitespace or control
        characters.""",
    )
    locale = _Setting(_shortstr, """Locale sent in Connection.StartOk, a shortstr.""")
    port = _Setting(
        _int_in(1, 65535),
        """Broker TCP port, an int in 1..65535 (a str is a ``TypeError``: pika called
        ``int()`` on it). Default 5672, or 5671 when the constructor got ``ssl_options`` and no
        port; assigning ``ssl_options`` later leaves the port alone.""",
    )
    retry_delay = _Setting(
        _number(allow_zero=True),
        """Seconds between connection attempts, a finite number >= 0 (default 2.0), stored as
        float.""",
    )
    socket_timeout = _Setting(
        _optional(_number(allow_zero=False)),
        """TCP (and TLS) connect timeout in seconds: ``None`` (none) or a finite number > 0
        (default 10.0), stored as float.""",
    )
    ssl_options = _Setting(
        _ssl_options, """``None`` for plain TCP (default) or an :class:`SSLOptions` for TLS."""
    )
    stack_timeout = _Setting(
        _optional(_number(allow_zero=False)),
        """Timeout in seconds for the whole open (TCP + TLS + AMQP handshake): ``None`` or a
        finite number > 0 (default 15.0), stored as float; keep it above ``socket_timeout``.""",
    )
    tcp_options = _Setting(
        _tcp_options,
        """``None`` or a dict of socket options for the adapter: keys from
        :data:`TCP_OPTION_NAMES` (any other is a ``ValueError``), values ints in 0..2**31-1.
        Stored as a copy.""",
    )
    virtual_host = _Setting(_shortstr, """RabbitMQ virtual host, a shortstr (default '/').""")
    observer = _Setting(
        _observer,
        """``None`` (default: no instrumentation, nothing runs per message) or an
        :class:`amqpbase.instrument.Observer` (``amqpbase.metrics.Metrics``,
        ``amqpbase.tracing.Tracing``, several in ``amqpbase.instrument.Observers``) that
        every connection made with these parameters reports to (docs/metrics.md). Kept by
        reference (one observer may serve many connections).""",
    )

    def __init__(self) -> None:
        self.blocked_connection_timeout = self.DEFAULT_BLOCKED_CONNECTION_TIMEOUT
        self.channel_max = self.DEFAULT_CHANNEL_MAX
        self.client_properties = self.DEFAULT_CLIENT_PROPERTIES
        self.connection_attempts = self.DEFAULT_CONNECTION_ATTEMPTS
        self.credentials = self.DEFAULT_CREDENTIALS
        self.frame_max = self.DEFAULT_FRAME_MAX
        self.heartbeat = self.DEFAULT_HEARTBEAT_TIMEOUT
        self.host = self.DEFAULT_HOST
        self.locale = self.DEFAULT_LOCALE
        self.port = self.DEFAULT_PORT
        self.retry_delay = self.DEFAULT_RETRY_DELAY
        self.socket_timeout = self.DEFAULT_SOCKET_TIMEOUT
        self.stack_timeout = self.DEFAULT_STACK_TIMEOUT
        self.ssl_options = self.DEFAULT_SSL_OPTIONS
        self.virtual_host = self.DEFAULT_VIRTUAL_HOST
        self.tcp_options = self.DEFAULT_TCP_OPTIONS
        self.observer = self.DEFAULT_OBSERVER

    def __repr__(self) -> str:
        """pika's format; credentials (and so the password) are deliberately left out."""
        return (
            f"<{self.__class__.__name__} host={self.host} port={self.port} "
            f"virtual_host={self.virtual_host} ssl={self.ssl_options is not None}>"
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Parameters):
            return all(getattr(self, n) == getattr(other, n) for n in Parameters.__slots__)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable


# -- ConnectionParameters ----------------------------------------------------------------------


class ConnectionParameters(Parameters):
    """Parameters given one by one; an omitted argument keeps its ``DEFAULT_*`` value.

    Arguments are applied through the validating setters (see :class:`Parameters` for each
    one's rules). ``port`` defaults to ``DEFAULT_SSL_PORT`` (5671) when ``ssl_options`` is
    given and ``port`` is not. Unknown keyword arguments raise ``TypeError`` naming them
    (their values are not echoed).
    """

    __slots__ = ()

    #: pika exposes its "not given" marker here; kept for code that refers to it.
    _DEFAULT = _DEFAULT

    def __init__(
        self,
        host: Union[str, _DefaultType] = _DEFAULT,
        port: Union[int, _DefaultType] = _DEFAULT,
        virtual_host: Union[str, _DefaultType] = _DEFAULT,
        credentials: Union[CredentialsType, _DefaultType] = _DEFAULT,
        channel_max: Union[int, _DefaultType] = _DEFAULT,
        frame_max: Union[int, _DefaultType] = _DEFAULT,
        heartbeat: Union[HeartbeatType, _DefaultType] = _DEFAULT,
        ssl_options: Union[SSLOptions, None, _DefaultType] = _DEFAULT,
        connection_attempts: Union[int, _DefaultType] = _DEFAULT,
        retry_delay: Union[float, _DefaultType] = _DEFAULT,
        socket_timeout: Union[float, None, _DefaultType] = _DEFAULT,
        stack_timeout: Union[float, None, _DefaultType] = _DEFAULT,
        locale: Union[str, _DefaultType] = _DEFAULT,
        blocked_connection_timeout: Union[float, None, _DefaultType] = _DEFAULT,
        client_properties: Union[Dict[str, Any], None, _DefaultType] = _DEFAULT,
        tcp_options: Union[Dict[str, int], None, _DefaultType] = _DEFAULT,
        observer: Union[Observer, None, _DefaultType] = _DEFAULT,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(
                "ConnectionParameters() got unexpected keyword argument(s): "
                + ", ".join(sorted(kwargs))
            )
        super().__init__()
        given: Tuple[Tuple[str, Any], ...] = (
            ("blocked_connection_timeout", blocked_connection_timeout),
            ("channel_max", channel_max), ("client_properties", client_properties),
            ("connection_attempts", connection_attempts), ("credentials", credentials),
            ("frame_max", frame_max), ("heartbeat", heartbeat), ("host", host), ("locale", locale),
            ("retry_delay", retry_delay), ("socket_timeout", socket_timeout),
            ("stack_timeout", stack_timeout), ("ssl_options", ssl_options),
            ("virtual_host", virtual_host), ("tcp_options", tcp_options),
            ("observer", observer),
        )  # fmt: skip
        for name, value in given:
            if value is not _DEFAULT:
                setattr(self, name, value)  # validated by the attribute's setter
        # The port default depends on whether TLS is on, so it comes after ssl_options.
        if port is not _DEFAULT:
            self.port = port
        else:
            self.port = self.DEFAULT_SSL_PORT if self.ssl_options else self.DEFAULT_PORT


# -- URLParameters -----------------------------------------------------------------------------


class URLParameters(Parameters):
    """Parameters from an AMQP URI: ``amqp[s]://[user[:password]@]host[:port][/vhost][?query]``.

    Components (percent-decoded as strict UTF-8; ``+`` is literal outside the query):

    * scheme ``amqp`` (plain TCP) or ``amqps`` (TLS with ``ssl.create_default_context()`` and
      ``server_hostname`` = the host); anything else, or no ``//``, is a ``ValueError``.
    * user and password make ``PlainCredentials``. A user without ``:password`` keeps the
      default password (RabbitMQ URI spec; pika crashed here). No userinfo keeps the default
      credentials.
    * host: a name, IPv4, or bracketed IPv6 literal (``[::1]`` gives ``'::1'``); lower-cased like
      pika; empty keeps ``'localhost'``.
    * port: 1..65535; absent gives 5671 when TLS ended up on (``amqps`` or an ``ssl_options``
      query), else 5672.
    * virtual host: the one path segment. As in pika, an empty path or ``/`` alone keeps the
      default ``'/'`` (the RabbitMQ URI spec would make ``amqp://host/`` the empty vhost); the
      default vhost is spelt ``%2F``. A second unencoded ``/`` is a ``ValueError`` (pika silently
      dropped everything after it).
    * a ``#fragment`` is a ``ValueError`` (almost always an unencoded ``#`` in a password);
      surrounding whitespace is ignored.

    Query parameters (each at most once; unknown or repeated keys are a ``ValueError`` naming the
    key; a bad value a ``ValueError``/``TypeError`` naming key and value) -- pika 1.x's set:
    ``blocked_connection_timeout``, ``retry_delay``, ``socket_timeout``, ``stack_timeout``
    (numbers), ``channel_max``, ``connection_attempts``, ``frame_max``, ``heartbeat`` (ints),
    ``locale`` (str), ``client_properties`` and ``tcp_options`` (Python dict literals, as
    pika), and ``ssl_options``: ``None`` (plain; contradicts ``amqps``) or a dict literal with
    the keys ``cafile``/``ca_certs``, ``capath``/``ca_path``, ``cadata``/``ca_data``,
    ``certfile``, ``keyfile``, ``password``, ``ciphers``, ``server_hostname`` (default: the
    host), ``verify`` (bool), ``cert_reqs`` (``'CERT_NONE'``/``'CERT_OPTIONAL'``/
    ``'CERT_REQUIRED'`` or 0/1/2) and ``check_hostname`` (bool). The context starts from
    ``ssl.create_default_context()`` (system CAs when no CA is given, unlike pika which failed)
    and verifies the certificate and host name unless told otherwise. pika's ``protocol`` key
    is not supported. ``ssl_options`` is never echoed in errors (it may hold a key password).
    ``backpressure_detection`` and ``heartbeat_interval`` (pika 0.x) are rejected with a hint.
    """

    __slots__ = ()

    def __init__(self, url: str) -> None:
        # amqpbase._amqp_url parses; every value is assigned here, through the validating
        # setters, in URL order (scheme, host, userinfo, path, query pairs, then the port).
        super().__init__()
        parts = split_url(url, default_password=self.DEFAULT_PASSWORD)
        if parts.tls:
            self.ssl_options = SSLOptions(ssl.create_default_context())
        if parts.host is not None:
            self.host = parts.host
        if self.ssl_options is not None:
            # a new SSLOptions: the one we hold may be a class-level default shared by every
            # instance (DEFAULT_SSL_OPTIONS), which must not learn this URL's host
            self.ssl_options = SSLOptions(self.ssl_options.context, self.host)
        if parts.credentials is not None:
            self.credentials = parts.credentials
        if parts.virtual_host is not None:
            self.virtual_host = parts.virtual_host
        for key, value in iter_query(parts.query):
            if key != "ssl_options":
                setattr(self, key, value)  # the attribute's validator names the key
                continue
            tls_on = self.ssl_options is not None
            tls = tls_settings_from_query(value, self.host, tls_already_on=tls_on)
            if tls is not None:
                self.ssl_options = SSLOptions(*tls)
        # The port default depends on whether TLS ended up on, so it comes after the query.
        if parts.port is not None:
            self.port = parts.port
        else:
            self.port = self.DEFAULT_SSL_PORT if self.ssl_options else self.DEFAULT_PORT


# -- Client properties (Connection.StartOk) ----------------------------------------------------


def _client_version() -> str:
    version = getattr(sys.modules.get("amqpbase"), "__version__", None)
    return version if isinstance(version, str) else CLIENT_VERSION


def build_client_properties(params: Parameters) -> Dict[str, Any]:
    """The client-properties table for Connection.StartOk.

    Defaults: ``product`` ``'amqpbase'``, ``platform`` ``'Python x.y.z'``, ``version``
    (``amqpbase.__version__`` or :data:`CLIENT_VERSION`), ``information`` and ``capabilities``
    (:data:`CAPABILITIES`). ``params.client_properties`` is merged over them key by key, except
    that a user ``capabilities`` dict is merged *into* the default capabilities rather than
    replacing them. Returns a new dict (deep-copied; the caller may mutate it).
    """
    properties: Dict[str, Any] = {
        "product": PRODUCT,
        "platform": f"Python {platform.python_version()}",
        "version": _client_version(),
        "information": INFORMATION,
        "capabilities": dict(CAPABILITIES),
    }
    for key, value in (params.client_properties or {}).items():
        if key == "capabilities" and isinstance(value, dict):
            properties["capabilities"].update(copy.deepcopy(value))
        else:
            properties[key] = copy.deepcopy(value)
    return properties
