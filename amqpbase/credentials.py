"""SASL credentials for the AMQP handshake (pika 1.x compatible).

A credentials object is handed to :class:`~amqpbase.parameters.ConnectionParameters`. During the
handshake the base ``Connection`` calls :meth:`response_for` with the broker's
``Connection.Start`` method; a ``(None, None)`` answer means "the broker does not offer my
mechanism" and the connection fails with ``AuthenticationError(credentials.TYPE)``. Otherwise
the ``(mechanism, response)`` pair goes into ``Connection.StartOk``; once the connection is
open (Connection.OpenOk) it calls :meth:`erase_credentials` when ``erase_on_connect`` is set.

Contract shared by every class here:

* ``TYPE`` is the SASL mechanism name the class speaks.
* ``response_for(start)`` never raises for a well-formed ``Connection.Start``: it reads only
  ``start.mechanisms`` (``bytes`` as decoded from the wire, or ``str``), a space-separated list.
* Secrets never appear in ``repr()``/``str()`` nor in the text of any exception raised here.
  The password is shown as ``'********'`` whatever its length.
"""

from __future__ import annotations

import logging
from typing import List, Optional, Protocol, Tuple, Type, Union

__all__ = ["PlainCredentials", "ExternalCredentials", "VALID_TYPES", "MASK"]

LOGGER = logging.getLogger(__name__)

#: What ``repr()`` shows instead of a password (fixed width: the length is not revealed).
MASK = "********"


class _StartMethod(Protocol):
    """The part of ``spec.Connection.Start`` that credentials read."""

    @property
    def mechanisms(self) -> Union[bytes, str]: ...  # pragma: no cover


def _offered(start: _StartMethod, mechanism: str) -> bool:
    """True when ``mechanism`` is one of the space-separated names in ``start.mechanisms``."""
    offered = start.mechanisms
    if isinstance(offered, str):
        offered = offered.encode("utf-8")
    return mechanism.encode("ascii") in bytes(offered).split()


def _require_secret_text(value: object, name: str) -> str:
    """Validate a username/password without ever echoing its value."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, but got {type(value).__name__}")
    if "\0" in value:
        # RFC 4616: NUL separates the PLAIN fields, so it cannot appear inside one.
        raise ValueError(f"{name} must not contain a NUL character")
    return value


class PlainCredentials:
    """Username/password authentication with the SASL ``PLAIN`` mechanism (RabbitMQ's default).

    :param username: the user name (``str``; no NUL characters)
    :param password: the password (``str``; no NUL characters). Never shown by ``repr()``.
    :param erase_on_connect: when True, :meth:`erase_credentials` (called by the connection
        once it is open, on ``Connection.OpenOk``) sets ``username`` and ``password`` to
        ``None``. As in pika, a later attempt with the same parameters then authenticates with
        empty strings and is refused by the broker.
    :raises TypeError: a username/password that is not a ``str``, or a non-bool
        ``erase_on_connect`` (the message names the type only, never the value)
    :raises ValueError: a username/password containing NUL
    """

    TYPE = "PLAIN"

    def __init__(self, username: str, password: str, erase_on_connect: bool = False) -> None:
        if not isinstance(erase_on_connect, bool):
            raise TypeError(
                f"erase_on_connect must be a bool, but got {type(erase_on_connect).__name__}"
            )
        self.username: Optional[str] = _require_secret_text(username, "username")
        self.password: Optional[str] = _require_secret_text(password, "password")
        self.erase_on_connect: bool = erase_on_connect

    def __repr__(self) -> str:
        password = None if self.password is None else MASK
        return (
            f"{self.__class__.__name__}(username={self.username!r}, password={password!r}, "
            f"erase_on_connect={self.erase_on_connect!r})"
        )

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PlainCredentials):
            return (
                self.username == other.username
                and self.password == other.password
                and self.erase_on_connect == other.erase_on_connect
            )
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable (erase_credentials)

    def response_for(self, start: _StartMethod) -> Tuple[Optional[str], Optional[bytes]]:
        """Answer the broker's ``Connection.Start``.

        :returns: ``('PLAIN', b'\\0' + username + b'\\0' + password)`` (UTF-8) when the broker
            offers PLAIN, else ``(None, None)``. Erased fields are sent as empty strings.
        """
        if not _offered(start, self.TYPE):
            return None, None
        username = (self.username or "").encode("utf-8")
        password = (self.password or "").encode("utf-8")
        return self.TYPE, b"\0" + username + b"\0" + password

    def erase_credentials(self) -> None:
        """Forget username and password if ``erase_on_connect`` is set; otherwise do nothing.

        Called by the connection once the credentials were sent. Idempotent.
        """
        if self.erase_on_connect:
            LOGGER.info("Erasing stored credential values")
            self.username = None
            self.password = None


class ExternalCredentials:
    """SASL ``EXTERNAL``: the broker authenticates the client by other means (usually the TLS
    client certificate, with RabbitMQ's ``rabbitmq_auth_mechanism_ssl`` plugin).

    Holds no secret. Subclass it to customise the response, as pika documents.
    """

    TYPE = "EXTERNAL"

    def __init__(self) -> None:
        self.erase_on_connect: bool = False

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ExternalCredentials):
            return self.erase_on_connect == other.erase_on_connect
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like PlainCredentials

    def response_for(self, start: _StartMethod) -> Tuple[Optional[str], Optional[bytes]]:
        """:returns: ``('EXTERNAL', b'')`` if the broker offers EXTERNAL, else ``(None, None)``."""
        if not _offered(start, self.TYPE):
            return None, None
        return self.TYPE, b""

    def erase_credentials(self) -> None:
        """Nothing to erase (kept so every credentials type has the same interface)."""
        LOGGER.debug("ExternalCredentials hold nothing to erase")


CredentialsType = Union[PlainCredentials, ExternalCredentials]

#: The credentials classes ``ConnectionParameters.credentials`` accepts (subclasses too).
VALID_TYPES: List[Union[Type[PlainCredentials], Type[ExternalCredentials]]] = [
    PlainCredentials,
    ExternalCredentials,
]
