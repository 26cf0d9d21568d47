"""AMQP 0-9-1 frame objects with pika's names and attributes (``amqpbase.frame`` re-exports them).

``Method``, ``Header``, ``Body``, ``Heartbeat`` and ``ProtocolHeader`` are what the decoder
returns and what ``marshal()`` turns back into bytes; ``Delivery`` is not a wire frame but
one whole Basic.Deliver (method, content header, single body frame), the decoder's consume
fast path. Value objects only: no parsing (``decoder``), no connection or channel logic.
"""

from __future__ import annotations

from typing import Any, ClassVar, List, Union

from amqpbase import amqp_object, spec
from amqpbase.wire import formats
from amqpbase.wire.encode import encode_method_frame
from amqpbase.wire.formats import CONTENT_HEADER_FIXED, FRAME_END, HEARTBEAT_FRAME

# Structs are bound here by assignment, not imported by name: CPython (3.11+) compiles
# ``name.pack(...)`` for a name bound by an import as an attribute load that makes a bound
# method object per call (measured +30 % on the publish encoder), else as a method call.
_S_CONTENT_HEADER_PAYLOAD = formats.S_CONTENT_HEADER_PAYLOAD
_S_FRAME_HEADER = formats.S_FRAME_HEADER


class _Frame(amqp_object.AMQPObject):
    """Base of the frame classes: value semantics over ``__slots__`` (from ``AMQPObject``),
    with each frame class's own name in its repr."""

    __slots__ = ()
    frame_type: ClassVar[int]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.NAME = cls.__name__


class Method(_Frame):
    """A method frame. ``method`` is typed ``Any`` on purpose: receivers dispatch on its type
    and then read that method's own fields (as pika code does)."""

    __slots__ = ("channel_number", "method")
    frame_type = spec.FRAME_METHOD

    def __init__(self, channel_number: int, method: Any) -> None:
        self.channel_number = channel_number
        self.method = method

    def marshal(self) -> bytes:
        return encode_method_frame(self.channel_number, self.method)


class Header(_Frame):
    """A content header frame: ``body_size`` and the properties (``spec.BasicProperties``)."""

    __slots__ = ("channel_number", "body_size", "properties")
    frame_type = spec.FRAME_HEADER

    def __init__(self, channel_number: int, body_size: int, properties: Any) -> None:
        self.channel_number = channel_number
        self.body_size = body_size
        self.properties = properties

    def marshal(self) -> bytes:
        props = self.properties.encode()
        return b"".join((
            _S_FRAME_HEADER.pack(
                spec.FRAME_HEADER, self.channel_number, CONTENT_HEADER_FIXED + len(props)
            ),
            _S_CONTENT_HEADER_PAYLOAD.pack(self.properties.INDEX, 0, self.body_size),
            props,
            FRAME_END,
        ))


class Body(_Frame):
    """A content body frame; ``fragment`` is ``bytes`` (a copy: the decoder's buffer moves on)."""

    __slots__ = ("channel_number", "fragment")
    frame_type = spec.FRAME_BODY

    def __init__(self, channel_number: int, fragment: bytes) -> None:
        self.channel_number = channel_number
        self.fragment = fragment

    def marshal(self) -> bytes:
        return b"".join((
            _S_FRAME_HEADER.pack(spec.FRAME_BODY, self.channel_number, len(self.fragment)),
            self.fragment,
            FRAME_END,
        ))


class Heartbeat(_Frame):
    """A heartbeat frame (always channel 0)."""

    __slots__ = ()
    frame_type = spec.FRAME_HEARTBEAT
    channel_number: ClassVar[int] = 0

    def marshal(self) -> bytes:
        return HEARTBEAT_FRAME


class ProtocolHeader(_Frame):
    """``AMQP`` + 4 octets. From the server it means "I do not speak your version": it sends
    the version it does speak and closes (AMQP 0-9-1, 4.2.2). ``frame_type`` is -1 (pika)."""

    __slots__ = ("major", "minor", "revision")
    frame_type = -1
    #: Not a real frame, but it belongs to the connection (channel 0), which handles it.
    channel_number = 0

    def __init__(
        self,
        major: int = spec.PROTOCOL_VERSION[0],
        minor: int = spec.PROTOCOL_VERSION[1],
        revision: int = spec.PROTOCOL_VERSION[2],
    ) -> None:
        self.major = major
        self.minor = minor
        self.revision = revision

    def marshal(self) -> bytes:
        return b"AMQP" + bytes((0, self.major, self.minor, self.revision))


class Delivery(_Frame):
    """Not a wire frame: one complete Basic.Deliver (its method frame, its content header and
    its body in at most one body frame), as :meth:`FrameDecoder.feed_deliveries` returns it.

    ``body`` is the ``bytes`` the lone body frame carried (``b""`` when the header announced
    an empty body). :meth:`frames` gives the frames the generic :meth:`FrameDecoder.feed`
    returns for the same bytes."""

    __slots__ = ("channel_number", "method", "properties", "body")
    frame_type = -2  # not a frame type on the wire

    def __init__(self, channel_number: int, method: Any, properties: Any, body: bytes) -> None:
        self.channel_number = channel_number
        self.method = method
        self.properties = properties
        self.body = body

    def frames(self) -> List["Frame"]:
        """The method, header and (for a non-empty body) body frames this stands for."""
        channel = self.channel_number
        out: List[Frame] = [
            Method(channel, self.method),
            Header(channel, len(self.body), self.properties),
        ]
        if self.body:
            out.append(Body(channel, self.body))
        return out

    def marshal(self) -> bytes:
        return b"".join(part.marshal() for part in self.frames())


Frame = Union[Method, Header, Body, Heartbeat, ProtocolHeader, Delivery]
