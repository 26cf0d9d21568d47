"""Base classes for the generated AMQP classes, methods and content properties (amqpbase.spec).

The generated code in :mod:`amqpbase.spec` subclasses these; they hold the behaviour that is
the same for every method (repr, equality) so the generated file stays data-like.
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, FrozenSet, Iterator, Tuple

#: Method fields that carry a secret, by method NAME: ``repr()`` shows :data:`HIDDEN` instead.
#: The SASL response holds the password (PLAIN: ``\0user\0password``, RFC 4616); UpdateSecret
#: carries a new token (RabbitMQ extension). Kept here because spec.py is generated.
SECRET_FIELDS: Dict[str, FrozenSet[str]] = {
    "Connection.StartOk": frozenset({"response"}),
    "Connection.SecureOk": frozenset({"response"}),
    "Connection.UpdateSecret": frozenset({"new_secret"}),
}
#: What ``repr()`` shows for a secret field.
HIDDEN = "<hidden>"


class AMQPObject:
    """Common repr/equality over ``__slots__`` fields. ``repr()`` never shows the value of a
    field listed in :data:`SECRET_FIELDS`."""

    __slots__: ClassVar[Tuple[str, ...]] = ()
    NAME: ClassVar[str] = "AMQPObject"

    def _fields(self) -> Iterator[Tuple[str, Any]]:
        for name in self.__slots__:
            yield name, getattr(self, name)

    def __repr__(self) -> str:
        secret = SECRET_FIELDS.get(self.NAME, frozenset())
        items = ", ".join(
            f"{name}={HIDDEN if name in secret else repr(value)}" for name, value in self._fields()
        )
        return f"<{self.NAME}({items})>"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable value objects


class Class(AMQPObject):
    """An AMQP class (Connection, Channel, Basic, ...): a namespace for its methods."""

    __slots__ = ()

    INDEX: ClassVar[int] = 0


class Method(AMQPObject):
    """An AMQP method. Subclasses are generated.

    Class attributes (all generated from the spec):

    - ``INDEX``: ``(class_id << 16) | method_id``
    - ``NAME``: e.g. ``"Basic.Publish"``
    - ``synchronous``: the peer answers with one of ``valid_responses``
    - ``valid_responses``: tuple of the Method classes that answer this one
    - ``has_content``: a content header and body frames follow this method

    ``encode()`` returns the method frame payload (class id, method id, arguments).
    ``decode(data, offset)`` is a classmethod: it reads the arguments that start at
    ``offset`` (just after the 4-byte class/method id) and returns ``(method, new_offset)``.
    """

    __slots__ = ()
    INDEX: ClassVar[int] = 0
    synchronous: ClassVar[bool] = False
    has_content: ClassVar[bool] = False
    valid_responses: ClassVar[Tuple[type, ...]] = ()

    def encode(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def decode(cls, data: Any, offset: int) -> Tuple["Method", int]:
        raise NotImplementedError

    def get_properties(self) -> None:  # pragma: no cover - pika compatibility shim
        return None

    def get_body(self) -> None:  # pragma: no cover - pika compatibility shim
        return None


class Properties(AMQPObject):
    """Content header properties (BasicProperties is generated)."""

    __slots__ = ()

    INDEX: ClassVar[int] = 0
