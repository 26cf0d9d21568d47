"""Parsing of ``amqp://`` and ``amqps://`` URLs, for :class:`amqpbase.parameters.URLParameters`.

The URL syntax, the query keys and how each maps to a parameter are documented on
``URLParameters``; this module holds the parsing, and ``URLParameters`` applies the results
through the validating attribute setters of ``Parameters``.

Contract:

* Nothing here assigns a parameter. :func:`split_url` checks the URL's structure and returns
  its decoded components; :func:`iter_query` yields the query's ``(key, value)`` pairs one at a
  time; :func:`tls_settings_from_query` turns the ``ssl_options`` query dict into an
  ``ssl.SSLContext`` and SNI host name. Each raises ``ValueError``/``TypeError`` on the first
  problem it meets, checking in the order the URL is read, so a URL with several problems
  reports the same one whatever the caller does between the steps.
* :func:`iter_query` is lazy: a pair is parsed only when the previous one was consumed, so the
  caller's error for an earlier pair (e.g. a setter rejecting its value) comes first.
* Secrets never appear in the text (or chained causes) of an exception raised here: the
  password and the ``ssl_options`` query value are never echoed, nor is a name or value that
  may be a mis-parsed piece of a password (see :func:`_name_shown`, :func:`_query_value_shown`).
* No I/O and no loop, except that :func:`tls_settings_from_query` creates an ``SSLContext`` and
  loads the CA/certificate files the query names into it.
* This module does not import :mod:`amqpbase.parameters` (which imports it).
"""

from __future__ import annotations

import ast
import ssl
from typing import Any, Callable, Dict, Final, Iterator, Mapping, NamedTuple, Optional, Tuple
from urllib.parse import parse_qsl, unquote, urlsplit

from amqpbase.credentials import PlainCredentials

__all__ = [
    "QUERY_KEYS", "URL_FORM", "URLParts", "iter_query", "split_url", "tls_settings_from_query",
]

#: The URL syntax, quoted in error messages.
URL_FORM: Final = "amqp[s]://[user[:password]@]host[:port][/virtual_host][?key=value&...]"

#: Query keys that pika 0.x accepted and pika 1.x rejects; amqpbase rejects them with a hint.
_REMOVED_QUERY_KEYS: Final[Mapping[str, str]] = {
    "backpressure_detection": "it was removed in pika 1.0; use "
    "Connection.add_backpressure_callback() instead",
    "heartbeat_interval": "it was renamed 'heartbeat' in pika 1.0",
    "ssl": "use an amqps:// URL (or the ssl_options query parameter)",
}

_SSL_ALIASES: Final[Mapping[str, str]] = {
    "ca_certs": "cafile", "ca_path": "capath", "ca_data": "cadata",
}  # fmt: skip
#: ssl_options query keys and the types of their values.
_SSL_KEYS: Final[Mapping[str, Any]] = {
    "cafile": str, "capath": str, "cadata": (str, bytes), "certfile": str, "keyfile": str,
    "password": (str, bytes), "ciphers": str, "server_hostname": str, "verify": bool,
    "cert_reqs": (str, int), "check_hostname": bool,
}  # fmt: skip
_CERT_REQS: Final[Mapping[object, ssl.VerifyMode]] = {
    **{mode.name: mode for mode in ssl.VerifyMode},
    **{int(mode): mode for mode in ssl.VerifyMode},
}


# -- Text helpers: decoding, and what an error message may show --------------------------------


def _name_shown(name: str) -> str:
    """Quote a name taken from a URL only when it cannot be a mis-parsed piece of a password."""
    return repr(name) if name.isidentifier() and name.isascii() else "(name not shown)"


def _unquote(text: str, what: str) -> str:
    """Percent-decode one URL component as strict UTF-8; the error never echoes the text."""
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise ValueError(f"the URL {what} is not valid percent-encoded UTF-8") from None


def _query_value_shown(key: str, value: str) -> str:
    """``key=value`` for an error message. Hidden: ssl_options (may hold a key password) and a
    value with an ``@`` (likely the tail of a password whose unencoded ``?`` split the URL)."""
    if key == "ssl_options" or "@" in value:
        return f"{key} (value not shown)"
    return f"{key}={value[:60]!r}"


# -- The URL's structure -------------------------------------------------------------------------


class URLParts(NamedTuple):
    """The decoded components of an AMQP URL; ``None`` means "absent: keep the default"."""

    #: The scheme is ``amqps``.
    tls: bool
    #: Lower-cased; brackets of an IPv6 literal removed.
    host: Optional[str]
    #: An int in 0..65535 (0 is left for the ``port`` setter to reject, as before).
    port: Optional[int]
    #: From the userinfo; a user without ``:password`` gets the default password.
    credentials: Optional[PlainCredentials]
    #: The one path segment, decoded; ``None`` for an empty path or ``/`` alone.
    virtual_host: Optional[str]
    #: The raw (still encoded) query string, for :func:`iter_query`.
    query: str


def split_url(url: object, default_password: str) -> URLParts:
    """Check an AMQP URL's structure and decode its components (see ``URLParameters``).

    :param url: the URL; surrounding whitespace is ignored. Not a ``str``: ``TypeError``.
    :param default_password: the password of a userinfo that has a user but no ``:password``.
    :raises ValueError: bad scheme, no ``//``, a ``#fragment``, a bad port, a component that is
        not percent-encoded UTF-8, or a path of more than one segment.
    :raises TypeError, ValueError: from ``PlainCredentials`` (e.g. a NUL in the user name).
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, but got {type(url).__name__}")
    url = url.strip()  # e.g. a newline read from a file or an environment variable
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(f"malformed URL (bad IPv6 literal?); expected {URL_FORM}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("amqp", "amqps"):
        raise ValueError(
            f"unsupported URL scheme {_name_shown(scheme) if scheme else '(none)'}; "
            "expected 'amqp' or 'amqps'"
        )
    if not url[len(scheme) + 1 :].startswith("//"):
        raise ValueError(f"malformed URL: expected {URL_FORM}")
    if parts.fragment or url.endswith("#"):
        raise ValueError(
            "the URL has a '#' fragment; percent-encode '#' as %23 in names and passwords"
        )

    host = _unquote(parts.hostname, "host") if parts.hostname else None

    try:
        port = parts.port
    except ValueError:
        # Not echoed: an unencoded '/' or '#' in a password can land here.
        raise ValueError("the URL port must be an integer in 1..65535") from None

    credentials = None
    if parts.username is not None:
        username = _unquote(parts.username, "user name")
        password = (
            default_password if parts.password is None else _unquote(parts.password, "password")
        )
        credentials = PlainCredentials(username, password)

    virtual_host = None
    if len(parts.path) > 1:
        segment = parts.path[1:]
        if "/" in segment:
            raise ValueError(
                "the URL path must be one segment (the virtual host); "
                "percent-encode '/' in a virtual host name as %2F"
            )
        virtual_host = _unquote(segment, "virtual host")

    return URLParts(scheme == "amqps", host, port, credentials, virtual_host, parts.query)


# -- The query -----------------------------------------------------------------------------------


def _query_int(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        shown = _query_value_shown(key, value)
        raise ValueError(f"URL query parameter {shown} is not an integer") from None


def _query_float(key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        shown = _query_value_shown(key, value)
        raise ValueError(f"URL query parameter {shown} is not a number") from None


def _query_literal(key: str, value: str) -> Any:
    """``ast.literal_eval`` of a query value (pika's format for dict-valued parameters)."""
    try:
        return ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        shown = _query_value_shown(key, value)
        raise ValueError(
            f"URL query parameter {shown} is not a Python literal (e.g. {{'key': 1}})"
        ) from None


#: Query key -> parser of its text; the parsed value then goes through the attribute setter.
_QUERY_PARSERS: Final[Mapping[str, Callable[[str, str], Any]]] = {
    "blocked_connection_timeout": _query_float, "channel_max": _query_int,
    "client_properties": _query_literal, "connection_attempts": _query_int,
    "frame_max": _query_int, "heartbeat": _query_int, "locale": lambda _key, text: text,
    "retry_delay": _query_float, "socket_timeout": _query_float, "ssl_options": _query_literal,
    "stack_timeout": _query_float, "tcp_options": _query_literal,
}  # fmt: skip

#: The query keys a URL may use (each sets the ``Parameters`` attribute of the same name).
QUERY_KEYS: Final[frozenset[str]] = frozenset(_QUERY_PARSERS)


def iter_query(query: str) -> Iterator[Tuple[str, Any]]:
    """Yield ``(key, parsed value)`` for each ``key=value`` of a raw query string, in order.

    Values are parsed by key (numbers, ints, Python literals for dicts and ``ssl_options``,
    ``locale`` as text) but not validated: the caller assigns them through the setters, except
    ``ssl_options`` (``None`` or, for :func:`tls_settings_from_query`, a dict).

    :raises ValueError: a query that is not percent-encoded UTF-8 (before the first pair), an
        unknown key (a removed pika 0.x key gets a hint), a key given twice, or a value its key
        cannot parse. Raised when the offending pair is reached.
    """
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise ValueError("the URL query string is not valid percent-encoded UTF-8") from None
    seen = set()
    for key, text in pairs:
        parser = _QUERY_PARSERS.get(key)
        if parser is None:
            if key in _REMOVED_QUERY_KEYS:
                hint = _REMOVED_QUERY_KEYS[key]
                raise ValueError(f"unsupported URL query parameter {key!r}: {hint}")
            raise ValueError(
                f"unknown URL query parameter {_name_shown(key)}; expected one of "
                + ", ".join(sorted(_QUERY_PARSERS))
            )
        if key in seen:
            raise ValueError(f"URL query parameter {key!r} is given more than once")
        seen.add(key)
        yield key, parser(key, text)


def tls_settings_from_query(
    query_value: Any, default_server_hostname: str, *, tls_already_on: bool
) -> Optional[Tuple[ssl.SSLContext, Optional[str]]]:
    """The ``(context, server_hostname)`` of the ``SSLOptions`` that the ``ssl_options`` query
    value (from :func:`iter_query`) asks for, or ``None`` when it asks for plain TCP.

    :param query_value: ``None`` (plain TCP) or a dict (keys and defaults: see
        ``URLParameters``). The context starts from ``ssl.create_default_context()`` and
        verifies the certificate and host name unless the dict says otherwise;
        ``server_hostname`` is the dict's, else ``default_server_hostname``.
    :param tls_already_on: the parameters already hold ``ssl_options`` (an ``amqps://`` URL),
        which a ``None`` contradicts.
    :raises TypeError: a value that is neither ``None`` nor a dict, a non-str key, or a value of
        the wrong type. Errors name the key and the type of its value, never the value itself.
    :raises ValueError: ``None`` with ``tls_already_on``, an unknown or repeated key,
        contradictory keys, or a context that cannot be set up (bad file, bad cipher string,
        wrong key password).
    """
    if query_value is None:
        if tls_already_on:
            raise ValueError("URL query parameter ssl_options=None contradicts amqps://")
        return None
    if not isinstance(query_value, dict):
        raise TypeError(
            "URL query parameter ssl_options must be a dict or None, "
            f"not {type(query_value).__name__}"
        )
    opts: Dict[str, Any] = {}
    for key, value in query_value.items():
        if not isinstance(key, str):
            raise TypeError(f"ssl_options keys must be str, but got a {type(key).__name__} key")
        canonical = _SSL_ALIASES.get(key, key)
        if canonical not in _SSL_KEYS:
            known = ", ".join(sorted([*_SSL_KEYS, *_SSL_ALIASES]))
            raise ValueError(f"unknown ssl_options key {_name_shown(key)}; expected one of {known}")
        if canonical in opts:
            raise ValueError(f"ssl_options key {canonical!r} is given twice (maybe via an alias)")
        kinds = _SSL_KEYS[canonical]
        bool_misused = kinds is not bool and isinstance(value, bool)
        if value is not None and (bool_misused or not isinstance(value, kinds)):
            raise TypeError(f"ssl_options[{key!r}] has the wrong type {type(value).__name__}")
        opts[canonical] = value
    if "verify" in opts and "cert_reqs" in opts:
        raise ValueError("ssl_options: give either 'verify' or 'cert_reqs', not both")
    if opts.get("certfile") is None and (opts.get("keyfile") or opts.get("password")):
        raise ValueError("ssl_options: 'keyfile' and 'password' need 'certfile'")

    verify_mode = ssl.CERT_REQUIRED
    if opts.get("verify") is False:
        verify_mode = ssl.CERT_NONE
    if opts.get("cert_reqs") is not None:
        if opts["cert_reqs"] not in _CERT_REQS:
            raise ValueError(
                "ssl_options['cert_reqs'] must be 'CERT_NONE', 'CERT_OPTIONAL', 'CERT_REQUIRED' "
                f"or 0, 1, 2, but got {opts['cert_reqs']!r}"
            )
        verify_mode = _CERT_REQS[opts["cert_reqs"]]
    check_hostname = verify_mode != ssl.CERT_NONE
    if opts.get("check_hostname") is not None:
        check_hostname = opts["check_hostname"]
        if check_hostname and verify_mode == ssl.CERT_NONE:
            raise ValueError("ssl_options: check_hostname=True needs certificate verification")

    try:
        context = ssl.create_default_context(
            cafile=opts.get("cafile"), capath=opts.get("capath"), cadata=opts.get("cadata")
        )
        if opts.get("certfile") is not None:
            context.load_cert_chain(opts["certfile"], opts.get("keyfile"), opts.get("password"))
        if opts.get("ciphers") is not None:
            context.set_ciphers(opts["ciphers"])
    except (OSError, ssl.SSLError) as exc:
        # These messages hold file names and OpenSSL reasons, never the key password.
        raise ValueError(f"ssl_options: cannot set up the TLS context: {exc}") from exc
    context.check_hostname = check_hostname  # before verify_mode: CERT_NONE needs it False
    context.verify_mode = verify_mode
    return context, opts.get("server_hostname", default_server_hostname)
