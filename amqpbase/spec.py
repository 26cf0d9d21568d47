# GENERATED FILE - DO NOT EDIT.
# Generator: tools/gen_spec.py
# Input:     amqp-rabbitmq-0.9.1.json
#            sha256 48dd1bb5374de5db3a0d789899a8cc2fbbe7f9a3d4efc69c8daf79dfb0591303
# Regenerate: python tools/gen_spec.py path/to/amqp-rabbitmq-0.9.1.json amqpbase/spec.py
#
# The input's copyright notice:
#   Copyright (C) 2008-2020 VMware, Inc. or its affiliates.
#   Permission is hereby granted, free of charge, to any person
#   obtaining a copy of this file (the "Software"), to deal in the
#   Software without restriction, including without limitation the
#   rights to use, copy, modify, merge, publish, distribute,
#   sublicense, and/or sell copies of the Software, and to permit
#   persons to whom the Software is furnished to do so, subject to
#   the following conditions:
#   The above copyright notice and this permission notice shall be
#   included in all copies or substantial portions of the Software.
#   THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
#   EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES
#   OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
#   NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT
#   HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY,
#   WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
#   FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR
#   OTHER DEALINGS IN THE SOFTWARE.
#   Class information entered from amqp_xml0-8.pdf and domain types from amqp-xml-doc0-9.pdf
#   Updated for 0-9-1 by Tony Garnock-Jones
#   b3cb053f15e7b98808c0ccc67f23cb3e  amqp_xml0-8.pdf
#   http://twiststandards.org/?option=com_docman&task=cat_view&gid=28&Itemid=90
#   8444db91e2949dbecfb2585e9eef6d64  amqp-xml-doc0-9.pdf
#   https://jira.amqp.org/confluence/download/attachments/720900/amqp-xml-doc0-9.pdf?version=1
"""AMQP 0-9-1 with RabbitMQ's extensions: constants, classes, methods, properties.

Generated from the RabbitMQ codegen JSON; see tools/gen_spec.py for what is generated and
docs/internals.md ("Codec API") for the contract. Names and defaults follow pika.
"""

from __future__ import annotations

import struct
from builtins import type as _class_of
from typing import (
    Any,
    ClassVar,
    Dict,
    FrozenSet,
    Mapping,
    Optional,
    Tuple,
    Type,
    Union,
)

from amqpbase import amqp_object
from amqpbase.delivery_mode import DeliveryMode
from amqpbase.fieldtable import (
    DECODE_FALLBACK,
    ENCODE_FALLBACK,
    decode_method_checked,
    decode_properties_checked,
    decode_table,
    encode_method_checked,
    encode_properties_checked,
    encode_table,
    required_error,
)

PROTOCOL_VERSION = (0, 9, 1)
PORT = 5672

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_HEARTBEAT = 8
FRAME_MIN_SIZE = 4096
FRAME_END = 206
REPLY_SUCCESS = 200
CONTENT_TOO_LARGE = 311
NO_ROUTE = 312
NO_CONSUMERS = 313
ACCESS_REFUSED = 403
NOT_FOUND = 404
RESOURCE_LOCKED = 405
PRECONDITION_FAILED = 406
CONNECTION_FORCED = 320
INVALID_PATH = 402
FRAME_ERROR = 501
SYNTAX_ERROR = 502
COMMAND_INVALID = 503
CHANNEL_ERROR = 504
UNEXPECTED_FRAME = 505
RESOURCE_ERROR = 506
NOT_ALLOWED = 530
NOT_IMPLEMENTED = 540
INTERNAL_ERROR = 541

FRAME_HEADER_SIZE = 7  # type octet + channel short + size long
FRAME_END_SIZE = 1  # the frame-end octet
FRAME_MAX_SIZE = 131072  # RabbitMQ's default frame_max
PERSISTENT_DELIVERY_MODE = 2  # BasicProperties.delivery_mode: survive a broker restart
TRANSIENT_DELIVERY_MODE = 1  # BasicProperties.delivery_mode: not persisted

REPLY_CODES: Dict[int, str] = {
    REPLY_SUCCESS: "REPLY_SUCCESS",
    CONTENT_TOO_LARGE: "CONTENT_TOO_LARGE",
    NO_ROUTE: "NO_ROUTE",
    NO_CONSUMERS: "NO_CONSUMERS",
    ACCESS_REFUSED: "ACCESS_REFUSED",
    NOT_FOUND: "NOT_FOUND",
    RESOURCE_LOCKED: "RESOURCE_LOCKED",
    PRECONDITION_FAILED: "PRECONDITION_FAILED",
    CONNECTION_FORCED: "CONNECTION_FORCED",
    INVALID_PATH: "INVALID_PATH",
    FRAME_ERROR: "FRAME_ERROR",
    SYNTAX_ERROR: "SYNTAX_ERROR",
    COMMAND_INVALID: "COMMAND_INVALID",
    CHANNEL_ERROR: "CHANNEL_ERROR",
    UNEXPECTED_FRAME: "UNEXPECTED_FRAME",
    RESOURCE_ERROR: "RESOURCE_ERROR",
    NOT_ALLOWED: "NOT_ALLOWED",
    NOT_IMPLEMENTED: "NOT_IMPLEMENTED",
    INTERNAL_ERROR: "INTERNAL_ERROR",
}
SOFT_ERRORS: FrozenSet[int] = frozenset(
    {
        CONTENT_TOO_LARGE,
        NO_ROUTE,
        NO_CONSUMERS,
        ACCESS_REFUSED,
        NOT_FOUND,
        RESOURCE_LOCKED,
        PRECONDITION_FAILED,
    }
)
HARD_ERRORS: FrozenSet[int] = frozenset(
    {
        CONNECTION_FORCED,
        INVALID_PATH,
        FRAME_ERROR,
        SYNTAX_ERROR,
        COMMAND_INVALID,
        CHANNEL_ERROR,
        UNEXPECTED_FRAME,
        RESOURCE_ERROR,
        NOT_ALLOWED,
        NOT_IMPLEMENTED,
        INTERNAL_ERROR,
    }
)

# Precompiled structs (network byte order), named by format.
_S_B = struct.Struct("!B")  # 1 byte
_S_H = struct.Struct("!H")  # 2 bytes
_S_I = struct.Struct("!I")  # 4 bytes
_S_Q = struct.Struct("!Q")  # 8 bytes
_S_BB = struct.Struct("!BB")  # 2 bytes
_S_HB = struct.Struct("!HB")  # 3 bytes
_S_HH = struct.Struct("!HH")  # 4 bytes
_S_II = struct.Struct("!II")  # 8 bytes
_S_QB = struct.Struct("!QB")  # 9 bytes
_S_HHB = struct.Struct("!HHB")  # 5 bytes
_S_HHH = struct.Struct("!HHH")  # 6 bytes
_S_HHI = struct.Struct("!HHI")  # 8 bytes
_S_HIH = struct.Struct("!HIH")  # 8 bytes
_S_IHB = struct.Struct("!IHB")  # 7 bytes
_S_QBB = struct.Struct("!QBB")  # 10 bytes
_S_HHBB = struct.Struct("!HHBB")  # 6 bytes
_S_HHHB = struct.Struct("!HHHB")  # 7 bytes
_S_HHQB = struct.Struct("!HHQB")  # 13 bytes
_S_HHHIH = struct.Struct("!HHHIH")  # 12 bytes
_S_HHIHB = struct.Struct("!HHIHB")  # 11 bytes
_S_HHQBB = struct.Struct("!HHQBB")  # 14 bytes

# What the generated decoders are written for. A memoryview works too (the fast path hands
# it to the generic decoder), but the frame decoder passes its bytearray.
Bytes = Union[bytes, bytearray]


class Connection(amqp_object.Class):
    """AMQP class connection (10)."""

    INDEX = 0x000A  # 10
    NAME = "Connection"

    class Start(amqp_object.Method):
        """connection.start (10, 10): synchronous, answered by StartOk."""

        INDEX = 0x000A000A  # (10 << 16) | 10
        NAME = "Connection.Start"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("version_major", "octet"),
            ("version_minor", "octet"),
            ("server_properties", "table"),
            ("mechanisms", "longstr"),
            ("locales", "longstr"),
        )
        __slots__ = (
            "version_major",
            "version_minor",
            "server_properties",
            "mechanisms",
            "locales",
        )

        def __init__(
            self,
            version_major: int = 0,
            version_minor: int = 9,
            server_properties: Optional[Mapping[str, Any]] = None,
            mechanisms: Union[str, bytes] = "PLAIN",
            locales: Union[str, bytes] = "en_US",
        ) -> None:
            self.version_major = version_major
            self.version_minor = version_minor
            self.server_properties = server_properties
            self.mechanisms = mechanisms
            self.locales = locales

        def encode(self) -> bytes:
            try:
                mechanisms = self.mechanisms
                if isinstance(mechanisms, str):
                    mechanisms = mechanisms.encode()
                locales = self.locales
                if isinstance(locales, str):
                    locales = locales.encode()
                return b"".join((
                    _S_HHBB.pack(10, 10, self.version_major, self.version_minor),
                    encode_table(self.server_properties),
                    _S_I.pack(len(mechanisms)),
                    mechanisms,
                    _S_I.pack(len(locales)),
                    locales,
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Connection.Start", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.version_major, obj.version_minor = _S_BB.unpack_from(data, pos)
                pos += 2
                obj.server_properties, pos = decode_table(data, pos)
                n = _S_I.unpack_from(data, pos)[0]
                pos += 4
                obj.mechanisms = bytes(data[pos:pos + n])
                pos += n
                n = _S_I.unpack_from(data, pos)[0]
                pos += 4
                obj.locales = bytes(data[pos:pos + n])
                pos += n
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            if pos > len(data):
                return decode_method_checked(cls, data, offset)  # raises: truncated
            return obj, pos

    class StartOk(amqp_object.Method):
        """connection.start-ok (10, 11): asynchronous."""

        INDEX = 0x000A000B  # (10 << 16) | 11
        NAME = "Connection.StartOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("client_properties", "table"),
            ("mechanism", "shortstr"),
            ("response", "longstr"),
            ("locale", "shortstr"),
        )
        __slots__ = ("client_properties", "mechanism", "response", "locale")

        def __init__(
            self,
            client_properties: Optional[Mapping[str, Any]] = None,
            mechanism: str = "PLAIN",
            response: Optional[Union[str, bytes]] = None,
            locale: str = "en_US",
        ) -> None:
            self.client_properties = client_properties
            self.mechanism = mechanism
            self.response = response
            self.locale = locale

        def encode(self) -> bytes:
            if self.response is None:
                raise required_error(self, ("response",))
            try:
                mechanism = self.mechanism.encode()
                response = self.response
                if isinstance(response, str):
                    response = response.encode()
                locale = self.locale.encode()
                return b"".join((
                    _S_HH.pack(10, 11),
                    encode_table(self.client_properties),
                    _S_B.pack(len(mechanism)),
                    mechanism,
                    _S_I.pack(len(response)),
                    response,
                    _S_B.pack(len(locale)),
                    locale,
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Connection.StartOk", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.client_properties, pos = decode_table(data, pos)
                n = data[pos]
                pos += 1
                obj.mechanism = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = _S_I.unpack_from(data, pos)[0]
                pos += 4
                obj.response = bytes(data[pos:pos + n])
                pos += n
                n = data[pos]
                pos += 1
                obj.locale = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            if pos > len(data):
                return decode_method_checked(cls, data, offset)  # raises: truncated
            return obj, pos

    class Secure(amqp_object.Method):
        """connection.secure (10, 20): synchronous, answered by SecureOk."""

        INDEX = 0x000A0014  # (10 << 16) | 20
        NAME = "Connection.Secure"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("challenge", "longstr"),
        )
        __slots__ = ("challenge",)

        def __init__(self, challenge: Optional[Union[str, bytes]] = None) -> None:
            self.challenge = challenge

        def encode(self) -> bytes:
            if self.challenge is None:
                raise required_error(self, ("challenge",))
            try:
                challenge = self.challenge
                if isinstance(challenge, str):
                    challenge = challenge.encode()
                return _S_HHI.pack(10, 20, len(challenge)) + challenge
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Connection.Secure", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = _S_I.unpack_from(data, pos)[0]
                pos += 4
                obj.challenge = bytes(data[pos:pos + n])
                pos += n
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            if pos > len(data):
                return decode_method_checked(cls, data, offset)  # raises: truncated
            return obj, pos

    class SecureOk(amqp_object.Method):
        """connection.secure-ok (10, 21): asynchronous."""

        INDEX = 0x000A0015  # (10 << 16) | 21
        NAME = "Connection.SecureOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("response", "longstr"),
        )
        __slots__ = ("response",)

        def __init__(self, response: Optional[Union[str, bytes]] = None) -> None:
            self.response = response

        def encode(self) -> bytes:
            if self.response is None:
                raise required_error(self, ("response",))
            try:
                response = self.response
                if isinstance(response, str):
                    response = response.encode()
                return _S_HHI.pack(10, 21, len(response)) + response
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Connection.SecureOk", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = _S_I.unpack_from(data, pos)[0]
                pos += 4
                obj.response = bytes(data[pos:pos + n])
                pos += n
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            if pos > len(data):
                return decode_method_checked(cls, data, offset)  # raises: truncated
            return obj, pos

    class Tune(amqp_object.Method):
        """connection.tune (10, 30): synchronous, answered by TuneOk."""

        INDEX = 0x000A001E  # (10 << 16) | 30
        NAME = "Connection.Tune"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("channel_max", "short"),
            ("frame_max", "long"),
            ("heartbeat", "short"),
        )
        __slots__ = ("channel_max", "frame_max", "heartbeat")

        def __init__(self, channel_max: int = 0, frame_max: int = 0, heartbeat: int = 0) -> None:
            self.channel_max = channel_max
            self.frame_max = frame_max
            self.heartbeat = heartbeat

        def encode(self) -> bytes:
            try:
                return _S_HHHIH.pack(10, 30, self.channel_max, self.frame_max, self.heartbeat)
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Connection.Tune", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.channel_max, obj.frame_max, obj.heartbeat = _S_HIH.unpack_from(data, pos)
                pos += 8
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class TuneOk(amqp_object.Method):
        """connection.tune-ok (10, 31): asynchronous."""

        INDEX = 0x000A001F  # (10 << 16) | 31
        NAME = "Connection.TuneOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("channel_max", "short"),
            ("frame_max", "long"),
            ("heartbeat", "short"),
        )
        __slots__ = ("channel_max", "frame_max", "heartbeat")

        def __init__(self, channel_max: int = 0, frame_max: int = 0, heartbeat: int = 0) -> None:
            self.channel_max = channel_max
            self.frame_max = frame_max
            self.heartbeat = heartbeat

        def encode(self) -> bytes:
            try:
                return _S_HHHIH.pack(10, 31, self.channel_max, self.frame_max, self.heartbeat)
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Connection.TuneOk", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.channel_max, obj.frame_max, obj.heartbeat = _S_HIH.unpack_from(data, pos)
                pos += 8
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class Open(amqp_object.Method):
        """connection.open (10, 40): synchronous, answered by OpenOk."""

        INDEX = 0x000A0028  # (10 << 16) | 40
        NAME = "Connection.Open"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("virtual_host", "shortstr"),
            ("capabilities", "shortstr"),
            ("insist", "bit"),
        )
        __slots__ = ("virtual_host", "capabilities", "insist")

        def __init__(
            self,
            virtual_host: str = "/",
            capabilities: str = "",
            insist: bool = False,
        ) -> None:
            self.virtual_host = virtual_host
            self.capabilities = capabilities
            self.insist = insist

        def encode(self) -> bytes:
            try:
                virtual_host = self.virtual_host.encode()
                capabilities = self.capabilities.encode()
                bits = (1 if self.insist else 0)
                return b"".join((
                    _S_HHB.pack(10, 40, len(virtual_host)),
                    virtual_host,
                    _S_B.pack(len(capabilities)),
                    capabilities,
                    _S_B.pack(bits),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Connection.Open", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = data[pos]
                pos += 1
                obj.virtual_host = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.capabilities = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                bits = data[pos]
                pos += 1
                obj.insist = (bits & 1) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class OpenOk(amqp_object.Method):
        """connection.open-ok (10, 41): asynchronous."""

        INDEX = 0x000A0029  # (10 << 16) | 41
        NAME = "Connection.OpenOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("known_hosts", "shortstr"),
        )
        __slots__ = ("known_hosts",)

        def __init__(self, known_hosts: str = "") -> None:
            self.known_hosts = known_hosts

        def encode(self) -> bytes:
            try:
                known_hosts = self.known_hosts.encode()
                return _S_HHB.pack(10, 41, len(known_hosts)) + known_hosts
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Connection.OpenOk", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = data[pos]
                pos += 1
                obj.known_hosts = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            if pos > len(data):
                return decode_method_checked(cls, data, offset)  # raises: truncated
            return obj, pos

    class Close(amqp_object.Method):
        """connection.close (10, 50): synchronous, answered by CloseOk."""

        INDEX = 0x000A0032  # (10 << 16) | 50
        NAME = "Connection.Close"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("reply_code", "short"),
            ("reply_text", "shortstr"),
            ("class_id", "short"),
            ("method_id", "short"),
        )
        __slots__ = ("reply_code", "reply_text", "class_id", "method_id")

        def __init__(
            self,
            reply_code: Optional[int] = None,
            reply_text: str = "",
            class_id: Optional[int] = None,
            method_id: Optional[int] = None,
        ) -> None:
            self.reply_code = reply_code
            self.reply_text = reply_text
            self.class_id = class_id
            self.method_id = method_id

        def encode(self) -> bytes:
            if self.reply_code is None or self.class_id is None or self.method_id is None:
                raise required_error(self, ("reply_code", "class_id", "method_id"))
            try:
                reply_text = self.reply_text.encode()
                return b"".join((
                    _S_HHHB.pack(10, 50, self.reply_code, len(reply_text)),
                    reply_text,
                    _S_HH.pack(self.class_id, self.method_id),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Connection.Close", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.reply_code, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.reply_text = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                obj.class_id, obj.method_id = _S_HH.unpack_from(data, pos)
                pos += 4
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class CloseOk(amqp_object.Method):
        """connection.close-ok (10, 51): asynchronous."""

        INDEX = 0x000A0033  # (10 << 16) | 51
        NAME = "Connection.CloseOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00\n\x003'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Connection.CloseOk", int]:
            return cls(), offset

    class Blocked(amqp_object.Method):
        """connection.blocked (10, 60): asynchronous."""

        INDEX = 0x000A003C  # (10 << 16) | 60
        NAME = "Connection.Blocked"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("reason", "shortstr"),
        )
        __slots__ = ("reason",)

        def __init__(self, reason: str = "") -> None:
            self.reason = reason

        def encode(self) -> bytes:
            try:
                reason = self.reason.encode()
                return _S_HHB.pack(10, 60, len(reason)) + reason
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Connection.Blocked", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = data[pos]
                pos += 1
                obj.reason = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            if pos > len(data):
                return decode_method_checked(cls, data, offset)  # raises: truncated
            return obj, pos

    class Unblocked(amqp_object.Method):
        """connection.unblocked (10, 61): asynchronous."""

        INDEX = 0x000A003D  # (10 << 16) | 61
        NAME = "Connection.Unblocked"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00\n\x00='

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Connection.Unblocked", int]:
            return cls(), offset

    class UpdateSecret(amqp_object.Method):
        """connection.update-secret (10, 70): synchronous, answered by UpdateSecretOk."""

        INDEX = 0x000A0046  # (10 << 16) | 70
        NAME = "Connection.UpdateSecret"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("new_secret", "longstr"),
            ("reason", "shortstr"),
        )
        __slots__ = ("new_secret", "reason")

        def __init__(
            self,
            new_secret: Optional[Union[str, bytes]] = None,
            reason: Optional[str] = None,
        ) -> None:
            self.new_secret = new_secret
            self.reason = reason

        def encode(self) -> bytes:
            if self.new_secret is None or self.reason is None:
                raise required_error(self, ("new_secret", "reason"))
            try:
                new_secret = self.new_secret
                if isinstance(new_secret, str):
                    new_secret = new_secret.encode()
                reason = self.reason.encode()
                return b"".join((
                    _S_HHI.pack(10, 70, len(new_secret)),
                    new_secret,
                    _S_B.pack(len(reason)),
                    reason,
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Connection.UpdateSecret", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = _S_I.unpack_from(data, pos)[0]
                pos += 4
                obj.new_secret = bytes(data[pos:pos + n])
                pos += n
                n = data[pos]
                pos += 1
                obj.reason = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            if pos > len(data):
                return decode_method_checked(cls, data, offset)  # raises: truncated
            return obj, pos

    class UpdateSecretOk(amqp_object.Method):
        """connection.update-secret-ok (10, 71): asynchronous."""

        INDEX = 0x000A0047  # (10 << 16) | 71
        NAME = "Connection.UpdateSecretOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00\n\x00G'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Connection.UpdateSecretOk", int]:
            return cls(), offset


class Channel(amqp_object.Class):
    """AMQP class channel (20)."""

    INDEX = 0x0014  # 20
    NAME = "Channel"

    class Open(amqp_object.Method):
        """channel.open (20, 10): synchronous, answered by OpenOk."""

        INDEX = 0x0014000A  # (20 << 16) | 10
        NAME = "Channel.Open"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("out_of_band", "shortstr"),
        )
        __slots__ = ("out_of_band",)

        def __init__(self, out_of_band: str = "") -> None:
            self.out_of_band = out_of_band

        def encode(self) -> bytes:
            try:
                out_of_band = self.out_of_band.encode()
                return _S_HHB.pack(20, 10, len(out_of_band)) + out_of_band
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Channel.Open", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = data[pos]
                pos += 1
                obj.out_of_band = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            if pos > len(data):
                return decode_method_checked(cls, data, offset)  # raises: truncated
            return obj, pos

    class OpenOk(amqp_object.Method):
        """channel.open-ok (20, 11): asynchronous."""

        INDEX = 0x0014000B  # (20 << 16) | 11
        NAME = "Channel.OpenOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("channel_id", "longstr"),
        )
        __slots__ = ("channel_id",)

        def __init__(self, channel_id: Union[str, bytes] = "") -> None:
            self.channel_id = channel_id

        def encode(self) -> bytes:
            try:
                channel_id = self.channel_id
                if isinstance(channel_id, str):
                    channel_id = channel_id.encode()
                return _S_HHI.pack(20, 11, len(channel_id)) + channel_id
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Channel.OpenOk", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = _S_I.unpack_from(data, pos)[0]
                pos += 4
                obj.channel_id = bytes(data[pos:pos + n])
                pos += n
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            if pos > len(data):
                return decode_method_checked(cls, data, offset)  # raises: truncated
            return obj, pos

    class Flow(amqp_object.Method):
        """channel.flow (20, 20): synchronous, answered by FlowOk."""

        INDEX = 0x00140014  # (20 << 16) | 20
        NAME = "Channel.Flow"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("active", "bit"),
        )
        __slots__ = ("active",)

        def __init__(self, active: Optional[bool] = None) -> None:
            self.active = active

        def encode(self) -> bytes:
            if self.active is None:
                raise required_error(self, ("active",))
            try:
                bits = (1 if self.active else 0)
                return _S_HHB.pack(20, 20, bits)
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Channel.Flow", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                bits = data[pos]
                pos += 1
                obj.active = (bits & 1) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class FlowOk(amqp_object.Method):
        """channel.flow-ok (20, 21): asynchronous."""

        INDEX = 0x00140015  # (20 << 16) | 21
        NAME = "Channel.FlowOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("active", "bit"),
        )
        __slots__ = ("active",)

        def __init__(self, active: Optional[bool] = None) -> None:
            self.active = active

        def encode(self) -> bytes:
            if self.active is None:
                raise required_error(self, ("active",))
            try:
                bits = (1 if self.active else 0)
                return _S_HHB.pack(20, 21, bits)
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Channel.FlowOk", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                bits = data[pos]
                pos += 1
                obj.active = (bits & 1) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class Close(amqp_object.Method):
        """channel.close (20, 40): synchronous, answered by CloseOk."""

        INDEX = 0x00140028  # (20 << 16) | 40
        NAME = "Channel.Close"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("reply_code", "short"),
            ("reply_text", "shortstr"),
            ("class_id", "short"),
            ("method_id", "short"),
        )
        __slots__ = ("reply_code", "reply_text", "class_id", "method_id")

        def __init__(
            self,
            reply_code: Optional[int] = None,
            reply_text: str = "",
            class_id: Optional[int] = None,
            method_id: Optional[int] = None,
        ) -> None:
            self.reply_code = reply_code
            self.reply_text = reply_text
            self.class_id = class_id
            self.method_id = method_id

        def encode(self) -> bytes:
            if self.reply_code is None or self.class_id is None or self.method_id is None:
                raise required_error(self, ("reply_code", "class_id", "method_id"))
            try:
                reply_text = self.reply_text.encode()
                return b"".join((
                    _S_HHHB.pack(20, 40, self.reply_code, len(reply_text)),
                    reply_text,
                    _S_HH.pack(self.class_id, self.method_id),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Channel.Close", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.reply_code, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.reply_text = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                obj.class_id, obj.method_id = _S_HH.unpack_from(data, pos)
                pos += 4
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class CloseOk(amqp_object.Method):
        """channel.close-ok (20, 41): asynchronous."""

        INDEX = 0x00140029  # (20 << 16) | 41
        NAME = "Channel.CloseOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00\x14\x00)'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Channel.CloseOk", int]:
            return cls(), offset


class Access(amqp_object.Class):
    """AMQP class access (30)."""

    INDEX = 0x001E  # 30
    NAME = "Access"

    class Request(amqp_object.Method):
        """access.request (30, 10): synchronous, answered by RequestOk."""

        INDEX = 0x001E000A  # (30 << 16) | 10
        NAME = "Access.Request"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("realm", "shortstr"),
            ("exclusive", "bit"),
            ("passive", "bit"),
            ("active", "bit"),
            ("write", "bit"),
            ("read", "bit"),
        )
        __slots__ = ("realm", "exclusive", "passive", "active", "write", "read")

        def __init__(
            self,
            realm: str = "/data",
            exclusive: bool = False,
            passive: bool = True,
            active: bool = True,
            write: bool = True,
            read: bool = True,
        ) -> None:
            self.realm = realm
            self.exclusive = exclusive
            self.passive = passive
            self.active = active
            self.write = write
            self.read = read

        def encode(self) -> bytes:
            try:
                realm = self.realm.encode()
                bits = (
                    (1 if self.exclusive else 0)
                    | (2 if self.passive else 0)
                    | (4 if self.active else 0)
                    | (8 if self.write else 0)
                    | (16 if self.read else 0)
                )
                return b"".join((
                    _S_HHB.pack(30, 10, len(realm)),
                    realm,
                    _S_B.pack(bits),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Access.Request", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = data[pos]
                pos += 1
                obj.realm = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                bits = data[pos]
                pos += 1
                obj.exclusive = (bits & 1) != 0
                obj.passive = (bits & 2) != 0
                obj.active = (bits & 4) != 0
                obj.write = (bits & 8) != 0
                obj.read = (bits & 16) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class RequestOk(amqp_object.Method):
        """access.request-ok (30, 11): asynchronous."""

        INDEX = 0x001E000B  # (30 << 16) | 11
        NAME = "Access.RequestOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("ticket", "short"),
        )
        __slots__ = ("ticket",)

        def __init__(self, ticket: int = 1) -> None:
            self.ticket = ticket

        def encode(self) -> bytes:
            try:
                return _S_HHH.pack(30, 11, self.ticket)
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Access.RequestOk", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.ticket = _S_H.unpack_from(data, pos)[0]
                pos += 2
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos


class Exchange(amqp_object.Class):
    """AMQP class exchange (40)."""

    INDEX = 0x0028  # 40
    NAME = "Exchange"

    class Declare(amqp_object.Method):
        """exchange.declare (40, 10): synchronous, answered by DeclareOk."""

        INDEX = 0x0028000A  # (40 << 16) | 10
        NAME = "Exchange.Declare"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("ticket", "short"),
            ("exchange", "shortstr"),
            ("type", "shortstr"),
            ("passive", "bit"),
            ("durable", "bit"),
            ("auto_delete", "bit"),
            ("internal", "bit"),
            ("nowait", "bit"),
            ("arguments", "table"),
        )
        __slots__ = (
            "ticket",
            "exchange",
            "type",
            "passive",
            "durable",
            "auto_delete",
            "internal",
            "nowait",
            "arguments",
        )

        def __init__(
            self,
            ticket: int = 0,
            exchange: Optional[str] = None,
            type: str = "direct",
            passive: bool = False,
            durable: bool = False,
            auto_delete: bool = False,
            internal: bool = False,
            nowait: bool = False,
            arguments: Optional[Mapping[str, Any]] = None,
        ) -> None:
            self.ticket = ticket
            self.exchange = exchange
            self.type = type
            self.passive = passive
            self.durable = durable
            self.auto_delete = auto_delete
            self.internal = internal
            self.nowait = nowait
            self.arguments = arguments

        def encode(self) -> bytes:
            if self.exchange is None:
                raise required_error(self, ("exchange",))
            try:
                exchange = self.exchange.encode()
                type = self.type.encode()
                bits = (
                    (1 if self.passive else 0)
                    | (2 if self.durable else 0)
                    | (4 if self.auto_delete else 0)
                    | (8 if self.internal else 0)
                    | (16 if self.nowait else 0)
                )
                return b"".join((
                    _S_HHHB.pack(40, 10, self.ticket, len(exchange)),
                    exchange,
                    _S_B.pack(len(type)),
                    type,
                    _S_B.pack(bits),
                    encode_table(self.arguments),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Exchange.Declare", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.ticket, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.exchange = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.type = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                bits = data[pos]
                pos += 1
                obj.passive = (bits & 1) != 0
                obj.durable = (bits & 2) != 0
                obj.auto_delete = (bits & 4) != 0
                obj.internal = (bits & 8) != 0
                obj.nowait = (bits & 16) != 0
                obj.arguments, pos = decode_table(data, pos)
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class DeclareOk(amqp_object.Method):
        """exchange.declare-ok (40, 11): asynchronous."""

        INDEX = 0x0028000B  # (40 << 16) | 11
        NAME = "Exchange.DeclareOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00(\x00\x0b'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Exchange.DeclareOk", int]:
            return cls(), offset

    class Delete(amqp_object.Method):
        """exchange.delete (40, 20): synchronous, answered by DeleteOk."""

        INDEX = 0x00280014  # (40 << 16) | 20
        NAME = "Exchange.Delete"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("ticket", "short"),
            ("exchange", "shortstr"),
            ("if_unused", "bit"),
            ("nowait", "bit"),
        )
        __slots__ = ("ticket", "exchange", "if_unused", "nowait")

        def __init__(
            self,
            ticket: int = 0,
            exchange: Optional[str] = None,
            if_unused: bool = False,
            nowait: bool = False,
        ) -> None:
            self.ticket = ticket
            self.exchange = exchange
            self.if_unused = if_unused
            self.nowait = nowait

        def encode(self) -> bytes:
            if self.exchange is None:
                raise required_error(self, ("exchange",))
            try:
                exchange = self.exchange.encode()
                bits = (1 if self.if_unused else 0) | (2 if self.nowait else 0)
                return b"".join((
                    _S_HHHB.pack(40, 20, self.ticket, len(exchange)),
                    exchange,
                    _S_B.pack(bits),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Exchange.Delete", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.ticket, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.exchange = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                bits = data[pos]
                pos += 1
                obj.if_unused = (bits & 1) != 0
                obj.nowait = (bits & 2) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class DeleteOk(amqp_object.Method):
        """exchange.delete-ok (40, 21): asynchronous."""

        INDEX = 0x00280015  # (40 << 16) | 21
        NAME = "Exchange.DeleteOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00(\x00\x15'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Exchange.DeleteOk", int]:
            return cls(), offset

    class Bind(amqp_object.Method):
        """exchange.bind (40, 30): synchronous, answered by BindOk."""

        INDEX = 0x0028001E  # (40 << 16) | 30
        NAME = "Exchange.Bind"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("ticket", "short"),
            ("destination", "shortstr"),
            ("source", "shortstr"),
            ("routing_key", "shortstr"),
            ("nowait", "bit"),
            ("arguments", "table"),
        )
        __slots__ = ("ticket", "destination", "source", "routing_key", "nowait", "arguments")

        def __init__(
            self,
            ticket: int = 0,
            destination: Optional[str] = None,
            source: Optional[str] = None,
            routing_key: str = "",
            nowait: bool = False,
            arguments: Optional[Mapping[str, Any]] = None,
        ) -> None:
            self.ticket = ticket
            self.destination = destination
            self.source = source
            self.routing_key = routing_key
            self.nowait = nowait
            self.arguments = arguments

        def encode(self) -> bytes:
            if self.destination is None or self.source is None:
                raise required_error(self, ("destination", "source"))
            try:
                destination = self.destination.encode()
                source = self.source.encode()
                routing_key = self.routing_key.encode()
                bits = (1 if self.nowait else 0)
                return b"".join((
                    _S_HHHB.pack(40, 30, self.ticket, len(destination)),
                    destination,
                    _S_B.pack(len(source)),
                    source,
                    _S_B.pack(len(routing_key)),
                    routing_key,
                    _S_B.pack(bits),
                    encode_table(self.arguments),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Exchange.Bind", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.ticket, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.destination = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.source = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.routing_key = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                bits = data[pos]
                pos += 1
                obj.nowait = (bits & 1) != 0
                obj.arguments, pos = decode_table(data, pos)
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class BindOk(amqp_object.Method):
        """exchange.bind-ok (40, 31): asynchronous."""

        INDEX = 0x0028001F  # (40 << 16) | 31
        NAME = "Exchange.BindOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00(\x00\x1f'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Exchange.BindOk", int]:
            return cls(), offset

    class Unbind(amqp_object.Method):
        """exchange.unbind (40, 40): synchronous, answered by UnbindOk."""

        INDEX = 0x00280028  # (40 << 16) | 40
        NAME = "Exchange.Unbind"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("ticket", "short"),
            ("destination", "shortstr"),
            ("source", "shortstr"),
            ("routing_key", "shortstr"),
            ("nowait", "bit"),
            ("arguments", "table"),
        )
        __slots__ = ("ticket", "destination", "source", "routing_key", "nowait", "arguments")

        def __init__(
            self,
            ticket: int = 0,
            destination: Optional[str] = None,
            source: Optional[str] = None,
            routing_key: str = "",
            nowait: bool = False,
            arguments: Optional[Mapping[str, Any]] = None,
        ) -> None:
            self.ticket = ticket
            self.destination = destination
            self.source = source
            self.routing_key = routing_key
            self.nowait = nowait
            self.arguments = arguments

        def encode(self) -> bytes:
            if self.destination is None or self.source is None:
                raise required_error(self, ("destination", "source"))
            try:
                destination = self.destination.encode()
                source = self.source.encode()
                routing_key = self.routing_key.encode()
                bits = (1 if self.nowait else 0)
                return b"".join((
                    _S_HHHB.pack(40, 40, self.ticket, len(destination)),
                    destination,
                    _S_B.pack(len(source)),
                    source,
                    _S_B.pack(len(routing_key)),
                    routing_key,
                    _S_B.pack(bits),
                    encode_table(self.arguments),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Exchange.Unbind", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.ticket, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.destination = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.source = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.routing_key = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                bits = data[pos]
                pos += 1
                obj.nowait = (bits & 1) != 0
                obj.arguments, pos = decode_table(data, pos)
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class UnbindOk(amqp_object.Method):
        """exchange.unbind-ok (40, 51): asynchronous."""

        INDEX = 0x00280033  # (40 << 16) | 51
        NAME = "Exchange.UnbindOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00(\x003'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Exchange.UnbindOk", int]:
            return cls(), offset


class Queue(amqp_object.Class):
    """AMQP class queue (50)."""

    INDEX = 0x0032  # 50
    NAME = "Queue"

    class Declare(amqp_object.Method):
        """queue.declare (50, 10): synchronous, answered by DeclareOk."""

        INDEX = 0x0032000A  # (50 << 16) | 10
        NAME = "Queue.Declare"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("ticket", "short"),
            ("queue", "shortstr"),
            ("passive", "bit"),
            ("durable", "bit"),
            ("exclusive", "bit"),
            ("auto_delete", "bit"),
            ("nowait", "bit"),
            ("arguments", "table"),
        )
        __slots__ = (
            "ticket",
            "queue",
            "passive",
            "durable",
            "exclusive",
            "auto_delete",
            "nowait",
            "arguments",
        )

        def __init__(
            self,
            ticket: int = 0,
            queue: str = "",
            passive: bool = False,
            durable: bool = False,
            exclusive: bool = False,
            auto_delete: bool = False,
            nowait: bool = False,
            arguments: Optional[Mapping[str, Any]] = None,
        ) -> None:
            self.ticket = ticket
            self.queue = queue
            self.passive = passive
            self.durable = durable
            self.exclusive = exclusive
            self.auto_delete = auto_delete
            self.nowait = nowait
            self.arguments = arguments

        def encode(self) -> bytes:
            try:
                queue = self.queue.encode()
                bits = (
                    (1 if self.passive else 0)
                    | (2 if self.durable else 0)
                    | (4 if self.exclusive else 0)
                    | (8 if self.auto_delete else 0)
                    | (16 if self.nowait else 0)
                )
                return b"".join((
                    _S_HHHB.pack(50, 10, self.ticket, len(queue)),
                    queue,
                    _S_B.pack(bits),
                    encode_table(self.arguments),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Queue.Declare", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.ticket, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.queue = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                bits = data[pos]
                pos += 1
                obj.passive = (bits & 1) != 0
                obj.durable = (bits & 2) != 0
                obj.exclusive = (bits & 4) != 0
                obj.auto_delete = (bits & 8) != 0
                obj.nowait = (bits & 16) != 0
                obj.arguments, pos = decode_table(data, pos)
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class DeclareOk(amqp_object.Method):
        """queue.declare-ok (50, 11): asynchronous."""

        INDEX = 0x0032000B  # (50 << 16) | 11
        NAME = "Queue.DeclareOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("queue", "shortstr"),
            ("message_count", "long"),
            ("consumer_count", "long"),
        )
        __slots__ = ("queue", "message_count", "consumer_count")

        def __init__(
            self,
            queue: Optional[str] = None,
            message_count: Optional[int] = None,
            consumer_count: Optional[int] = None,
        ) -> None:
            self.queue = queue
            self.message_count = message_count
            self.consumer_count = consumer_count

        def encode(self) -> bytes:
            if self.queue is None or self.message_count is None or self.consumer_count is None:
                raise required_error(self, ("queue", "message_count", "consumer_count"))
            try:
                queue = self.queue.encode()
                return b"".join((
                    _S_HHB.pack(50, 11, len(queue)),
                    queue,
                    _S_II.pack(self.message_count, self.consumer_count),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Queue.DeclareOk", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = data[pos]
                pos += 1
                obj.queue = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                obj.message_count, obj.consumer_count = _S_II.unpack_from(data, pos)
                pos += 8
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class Bind(amqp_object.Method):
        """queue.bind (50, 20): synchronous, answered by BindOk."""

        INDEX = 0x00320014  # (50 << 16) | 20
        NAME = "Queue.Bind"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("ticket", "short"),
            ("queue", "shortstr"),
            ("exchange", "shortstr"),
            ("routing_key", "shortstr"),
            ("nowait", "bit"),
            ("arguments", "table"),
        )
        __slots__ = ("ticket", "queue", "exchange", "routing_key", "nowait", "arguments")

        def __init__(
            self,
            ticket: int = 0,
            queue: str = "",
            exchange: Optional[str] = None,
            routing_key: str = "",
            nowait: bool = False,
            arguments: Optional[Mapping[str, Any]] = None,
        ) -> None:
            self.ticket = ticket
            self.queue = queue
            self.exchange = exchange
            self.routing_key = routing_key
            self.nowait = nowait
            self.arguments = arguments

        def encode(self) -> bytes:
            if self.exchange is None:
                raise required_error(self, ("exchange",))
            try:
                queue = self.queue.encode()
                exchange = self.exchange.encode()
                routing_key = self.routing_key.encode()
                bits = (1 if self.nowait else 0)
                return b"".join((
                    _S_HHHB.pack(50, 20, self.ticket, len(queue)),
                    queue,
                    _S_B.pack(len(exchange)),
                    exchange,
                    _S_B.pack(len(routing_key)),
                    routing_key,
                    _S_B.pack(bits),
                    encode_table(self.arguments),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Queue.Bind", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.ticket, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.queue = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.exchange = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.routing_key = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                bits = data[pos]
                pos += 1
                obj.nowait = (bits & 1) != 0
                obj.arguments, pos = decode_table(data, pos)
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class BindOk(amqp_object.Method):
        """queue.bind-ok (50, 21): asynchronous."""

        INDEX = 0x00320015  # (50 << 16) | 21
        NAME = "Queue.BindOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x002\x00\x15'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Queue.BindOk", int]:
            return cls(), offset

    class Purge(amqp_object.Method):
        """queue.purge (50, 30): synchronous, answered by PurgeOk."""

        INDEX = 0x0032001E  # (50 << 16) | 30
        NAME = "Queue.Purge"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("ticket", "short"),
            ("queue", "shortstr"),
            ("nowait", "bit"),
        )
        __slots__ = ("ticket", "queue", "nowait")

        def __init__(self, ticket: int = 0, queue: str = "", nowait: bool = False) -> None:
            self.ticket = ticket
            self.queue = queue
            self.nowait = nowait

        def encode(self) -> bytes:
            try:
                queue = self.queue.encode()
                bits = (1 if self.nowait else 0)
                return b"".join((
                    _S_HHHB.pack(50, 30, self.ticket, len(queue)),
                    queue,
                    _S_B.pack(bits),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Queue.Purge", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.ticket, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.queue = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                bits = data[pos]
                pos += 1
                obj.nowait = (bits & 1) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class PurgeOk(amqp_object.Method):
        """queue.purge-ok (50, 31): asynchronous."""

        INDEX = 0x0032001F  # (50 << 16) | 31
        NAME = "Queue.PurgeOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("message_count", "long"),
        )
        __slots__ = ("message_count",)

        def __init__(self, message_count: Optional[int] = None) -> None:
            self.message_count = message_count

        def encode(self) -> bytes:
            if self.message_count is None:
                raise required_error(self, ("message_count",))
            try:
                return _S_HHI.pack(50, 31, self.message_count)
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Queue.PurgeOk", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.message_count = _S_I.unpack_from(data, pos)[0]
                pos += 4
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class Delete(amqp_object.Method):
        """queue.delete (50, 40): synchronous, answered by DeleteOk."""

        INDEX = 0x00320028  # (50 << 16) | 40
        NAME = "Queue.Delete"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("ticket", "short"),
            ("queue", "shortstr"),
            ("if_unused", "bit"),
            ("if_empty", "bit"),
            ("nowait", "bit"),
        )
        __slots__ = ("ticket", "queue", "if_unused", "if_empty", "nowait")

        def __init__(
            self,
            ticket: int = 0,
            queue: str = "",
            if_unused: bool = False,
            if_empty: bool = False,
            nowait: bool = False,
        ) -> None:
            self.ticket = ticket
            self.queue = queue
            self.if_unused = if_unused
            self.if_empty = if_empty
            self.nowait = nowait

        def encode(self) -> bytes:
            try:
                queue = self.queue.encode()
                bits = (
                    (1 if self.if_unused else 0)
                    | (2 if self.if_empty else 0)
                    | (4 if self.nowait else 0)
                )
                return b"".join((
                    _S_HHHB.pack(50, 40, self.ticket, len(queue)),
                    queue,
                    _S_B.pack(bits),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Queue.Delete", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.ticket, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.queue = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                bits = data[pos]
                pos += 1
                obj.if_unused = (bits & 1) != 0
                obj.if_empty = (bits & 2) != 0
                obj.nowait = (bits & 4) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class DeleteOk(amqp_object.Method):
        """queue.delete-ok (50, 41): asynchronous."""

        INDEX = 0x00320029  # (50 << 16) | 41
        NAME = "Queue.DeleteOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("message_count", "long"),
        )
        __slots__ = ("message_count",)

        def __init__(self, message_count: Optional[int] = None) -> None:
            self.message_count = message_count

        def encode(self) -> bytes:
            if self.message_count is None:
                raise required_error(self, ("message_count",))
            try:
                return _S_HHI.pack(50, 41, self.message_count)
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Queue.DeleteOk", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.message_count = _S_I.unpack_from(data, pos)[0]
                pos += 4
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class Unbind(amqp_object.Method):
        """queue.unbind (50, 50): synchronous, answered by UnbindOk."""

        INDEX = 0x00320032  # (50 << 16) | 50
        NAME = "Queue.Unbind"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("ticket", "short"),
            ("queue", "shortstr"),
            ("exchange", "shortstr"),
            ("routing_key", "shortstr"),
            ("arguments", "table"),
        )
        __slots__ = ("ticket", "queue", "exchange", "routing_key", "arguments")

        def __init__(
            self,
            ticket: int = 0,
            queue: str = "",
            exchange: Optional[str] = None,
            routing_key: str = "",
            arguments: Optional[Mapping[str, Any]] = None,
        ) -> None:
            self.ticket = ticket
            self.queue = queue
            self.exchange = exchange
            self.routing_key = routing_key
            self.arguments = arguments

        def encode(self) -> bytes:
            if self.exchange is None:
                raise required_error(self, ("exchange",))
            try:
                queue = self.queue.encode()
                exchange = self.exchange.encode()
                routing_key = self.routing_key.encode()
                return b"".join((
                    _S_HHHB.pack(50, 50, self.ticket, len(queue)),
                    queue,
                    _S_B.pack(len(exchange)),
                    exchange,
                    _S_B.pack(len(routing_key)),
                    routing_key,
                    encode_table(self.arguments),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Queue.Unbind", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.ticket, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.queue = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.exchange = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.routing_key = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                obj.arguments, pos = decode_table(data, pos)
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class UnbindOk(amqp_object.Method):
        """queue.unbind-ok (50, 51): asynchronous."""

        INDEX = 0x00320033  # (50 << 16) | 51
        NAME = "Queue.UnbindOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x002\x003'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Queue.UnbindOk", int]:
            return cls(), offset


class Basic(amqp_object.Class):
    """AMQP class basic (60)."""

    INDEX = 0x003C  # 60
    NAME = "Basic"

    class Qos(amqp_object.Method):
        """basic.qos (60, 10): synchronous, answered by QosOk."""

        INDEX = 0x003C000A  # (60 << 16) | 10
        NAME = "Basic.Qos"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("prefetch_size", "long"),
            ("prefetch_count", "short"),
            ("global_qos", "bit"),
        )
        __slots__ = ("prefetch_size", "prefetch_count", "global_qos")

        def __init__(
            self,
            prefetch_size: int = 0,
            prefetch_count: int = 0,
            global_qos: bool = False,
        ) -> None:
            self.prefetch_size = prefetch_size
            self.prefetch_count = prefetch_count
            self.global_qos = global_qos

        def encode(self) -> bytes:
            try:
                bits = (1 if self.global_qos else 0)
                return _S_HHIHB.pack(60, 10, self.prefetch_size, self.prefetch_count, bits)
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.Qos", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.prefetch_size, obj.prefetch_count, bits = _S_IHB.unpack_from(data, pos)
                pos += 7
                obj.global_qos = (bits & 1) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class QosOk(amqp_object.Method):
        """basic.qos-ok (60, 11): asynchronous."""

        INDEX = 0x003C000B  # (60 << 16) | 11
        NAME = "Basic.QosOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00<\x00\x0b'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.QosOk", int]:
            return cls(), offset

    class Consume(amqp_object.Method):
        """basic.consume (60, 20): synchronous, answered by ConsumeOk."""

        INDEX = 0x003C0014  # (60 << 16) | 20
        NAME = "Basic.Consume"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("ticket", "short"),
            ("queue", "shortstr"),
            ("consumer_tag", "shortstr"),
            ("no_local", "bit"),
            ("no_ack", "bit"),
            ("exclusive", "bit"),
            ("nowait", "bit"),
            ("arguments", "table"),
        )
        __slots__ = (
            "ticket",
            "queue",
            "consumer_tag",
            "no_local",
            "no_ack",
            "exclusive",
            "nowait",
            "arguments",
        )

        def __init__(
            self,
            ticket: int = 0,
            queue: str = "",
            consumer_tag: str = "",
            no_local: bool = False,
            no_ack: bool = False,
            exclusive: bool = False,
            nowait: bool = False,
            arguments: Optional[Mapping[str, Any]] = None,
        ) -> None:
            self.ticket = ticket
            self.queue = queue
            self.consumer_tag = consumer_tag
            self.no_local = no_local
            self.no_ack = no_ack
            self.exclusive = exclusive
            self.nowait = nowait
            self.arguments = arguments

        def encode(self) -> bytes:
            try:
                queue = self.queue.encode()
                consumer_tag = self.consumer_tag.encode()
                bits = (
                    (1 if self.no_local else 0)
                    | (2 if self.no_ack else 0)
                    | (4 if self.exclusive else 0)
                    | (8 if self.nowait else 0)
                )
                return b"".join((
                    _S_HHHB.pack(60, 20, self.ticket, len(queue)),
                    queue,
                    _S_B.pack(len(consumer_tag)),
                    consumer_tag,
                    _S_B.pack(bits),
                    encode_table(self.arguments),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.Consume", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.ticket, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.queue = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.consumer_tag = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                bits = data[pos]
                pos += 1
                obj.no_local = (bits & 1) != 0
                obj.no_ack = (bits & 2) != 0
                obj.exclusive = (bits & 4) != 0
                obj.nowait = (bits & 8) != 0
                obj.arguments, pos = decode_table(data, pos)
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class ConsumeOk(amqp_object.Method):
        """basic.consume-ok (60, 21): asynchronous."""

        INDEX = 0x003C0015  # (60 << 16) | 21
        NAME = "Basic.ConsumeOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("consumer_tag", "shortstr"),
        )
        __slots__ = ("consumer_tag",)

        def __init__(self, consumer_tag: Optional[str] = None) -> None:
            self.consumer_tag = consumer_tag

        def encode(self) -> bytes:
            if self.consumer_tag is None:
                raise required_error(self, ("consumer_tag",))
            try:
                consumer_tag = self.consumer_tag.encode()
                return _S_HHB.pack(60, 21, len(consumer_tag)) + consumer_tag
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.ConsumeOk", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = data[pos]
                pos += 1
                obj.consumer_tag = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            if pos > len(data):
                return decode_method_checked(cls, data, offset)  # raises: truncated
            return obj, pos

    class Cancel(amqp_object.Method):
        """basic.cancel (60, 30): synchronous, answered by CancelOk."""

        INDEX = 0x003C001E  # (60 << 16) | 30
        NAME = "Basic.Cancel"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("consumer_tag", "shortstr"),
            ("nowait", "bit"),
        )
        __slots__ = ("consumer_tag", "nowait")

        def __init__(self, consumer_tag: Optional[str] = None, nowait: bool = False) -> None:
            self.consumer_tag = consumer_tag
            self.nowait = nowait

        def encode(self) -> bytes:
            if self.consumer_tag is None:
                raise required_error(self, ("consumer_tag",))
            try:
                consumer_tag = self.consumer_tag.encode()
                bits = (1 if self.nowait else 0)
                return b"".join((
                    _S_HHB.pack(60, 30, len(consumer_tag)),
                    consumer_tag,
                    _S_B.pack(bits),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.Cancel", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = data[pos]
                pos += 1
                obj.consumer_tag = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                bits = data[pos]
                pos += 1
                obj.nowait = (bits & 1) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class CancelOk(amqp_object.Method):
        """basic.cancel-ok (60, 31): asynchronous."""

        INDEX = 0x003C001F  # (60 << 16) | 31
        NAME = "Basic.CancelOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("consumer_tag", "shortstr"),
        )
        __slots__ = ("consumer_tag",)

        def __init__(self, consumer_tag: Optional[str] = None) -> None:
            self.consumer_tag = consumer_tag

        def encode(self) -> bytes:
            if self.consumer_tag is None:
                raise required_error(self, ("consumer_tag",))
            try:
                consumer_tag = self.consumer_tag.encode()
                return _S_HHB.pack(60, 31, len(consumer_tag)) + consumer_tag
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.CancelOk", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = data[pos]
                pos += 1
                obj.consumer_tag = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            if pos > len(data):
                return decode_method_checked(cls, data, offset)  # raises: truncated
            return obj, pos

    class Publish(amqp_object.Method):
        """basic.publish (60, 40): asynchronous; carries content."""

        INDEX = 0x003C0028  # (60 << 16) | 40
        NAME = "Basic.Publish"
        synchronous = False
        has_content = True
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("ticket", "short"),
            ("exchange", "shortstr"),
            ("routing_key", "shortstr"),
            ("mandatory", "bit"),
            ("immediate", "bit"),
        )
        __slots__ = ("ticket", "exchange", "routing_key", "mandatory", "immediate")

        def __init__(
            self,
            ticket: int = 0,
            exchange: str = "",
            routing_key: str = "",
            mandatory: bool = False,
            immediate: bool = False,
        ) -> None:
            self.ticket = ticket
            self.exchange = exchange
            self.routing_key = routing_key
            self.mandatory = mandatory
            self.immediate = immediate

        def encode(self) -> bytes:
            try:
                exchange = self.exchange.encode()
                routing_key = self.routing_key.encode()
                bits = (1 if self.mandatory else 0) | (2 if self.immediate else 0)
                return b"".join((
                    _S_HHHB.pack(60, 40, self.ticket, len(exchange)),
                    exchange,
                    _S_B.pack(len(routing_key)),
                    routing_key,
                    _S_B.pack(bits),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.Publish", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.ticket, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.exchange = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.routing_key = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                bits = data[pos]
                pos += 1
                obj.mandatory = (bits & 1) != 0
                obj.immediate = (bits & 2) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class Return(amqp_object.Method):
        """basic.return (60, 50): asynchronous; carries content."""

        INDEX = 0x003C0032  # (60 << 16) | 50
        NAME = "Basic.Return"
        synchronous = False
        has_content = True
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("reply_code", "short"),
            ("reply_text", "shortstr"),
            ("exchange", "shortstr"),
            ("routing_key", "shortstr"),
        )
        __slots__ = ("reply_code", "reply_text", "exchange", "routing_key")

        def __init__(
            self,
            reply_code: Optional[int] = None,
            reply_text: str = "",
            exchange: Optional[str] = None,
            routing_key: Optional[str] = None,
        ) -> None:
            self.reply_code = reply_code
            self.reply_text = reply_text
            self.exchange = exchange
            self.routing_key = routing_key

        def encode(self) -> bytes:
            if self.reply_code is None or self.exchange is None or self.routing_key is None:
                raise required_error(self, ("reply_code", "exchange", "routing_key"))
            try:
                reply_text = self.reply_text.encode()
                exchange = self.exchange.encode()
                routing_key = self.routing_key.encode()
                return b"".join((
                    _S_HHHB.pack(60, 50, self.reply_code, len(reply_text)),
                    reply_text,
                    _S_B.pack(len(exchange)),
                    exchange,
                    _S_B.pack(len(routing_key)),
                    routing_key,
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.Return", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.reply_code, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.reply_text = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.exchange = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.routing_key = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            if pos > len(data):
                return decode_method_checked(cls, data, offset)  # raises: truncated
            return obj, pos

    class Deliver(amqp_object.Method):
        """basic.deliver (60, 60): asynchronous; carries content."""

        INDEX = 0x003C003C  # (60 << 16) | 60
        NAME = "Basic.Deliver"
        synchronous = False
        has_content = True
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("consumer_tag", "shortstr"),
            ("delivery_tag", "longlong"),
            ("redelivered", "bit"),
            ("exchange", "shortstr"),
            ("routing_key", "shortstr"),
        )
        __slots__ = ("consumer_tag", "delivery_tag", "redelivered", "exchange", "routing_key")

        def __init__(
            self,
            consumer_tag: Optional[str] = None,
            delivery_tag: Optional[int] = None,
            redelivered: bool = False,
            exchange: Optional[str] = None,
            routing_key: Optional[str] = None,
        ) -> None:
            self.consumer_tag = consumer_tag
            self.delivery_tag = delivery_tag
            self.redelivered = redelivered
            self.exchange = exchange
            self.routing_key = routing_key

        def encode(self) -> bytes:
            if (
                self.consumer_tag is None
                or self.delivery_tag is None
                or self.exchange is None
                or self.routing_key is None
            ):
                raise required_error(self, ("consumer_tag", "delivery_tag", "exchange", "routing_key"))
            try:
                consumer_tag = self.consumer_tag.encode()
                exchange = self.exchange.encode()
                routing_key = self.routing_key.encode()
                bits = (1 if self.redelivered else 0)
                return b"".join((
                    _S_HHB.pack(60, 60, len(consumer_tag)),
                    consumer_tag,
                    _S_QBB.pack(self.delivery_tag, bits, len(exchange)),
                    exchange,
                    _S_B.pack(len(routing_key)),
                    routing_key,
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.Deliver", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = data[pos]
                pos += 1
                obj.consumer_tag = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                obj.delivery_tag, bits, n = _S_QBB.unpack_from(data, pos)
                pos += 10
                obj.redelivered = (bits & 1) != 0
                obj.exchange = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.routing_key = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            if pos > len(data):
                return decode_method_checked(cls, data, offset)  # raises: truncated
            return obj, pos

    class Get(amqp_object.Method):
        """basic.get (60, 70): synchronous, answered by GetOk or GetEmpty."""

        INDEX = 0x003C0046  # (60 << 16) | 70
        NAME = "Basic.Get"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("ticket", "short"),
            ("queue", "shortstr"),
            ("no_ack", "bit"),
        )
        __slots__ = ("ticket", "queue", "no_ack")

        def __init__(self, ticket: int = 0, queue: str = "", no_ack: bool = False) -> None:
            self.ticket = ticket
            self.queue = queue
            self.no_ack = no_ack

        def encode(self) -> bytes:
            try:
                queue = self.queue.encode()
                bits = (1 if self.no_ack else 0)
                return b"".join((
                    _S_HHHB.pack(60, 70, self.ticket, len(queue)),
                    queue,
                    _S_B.pack(bits),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.Get", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.ticket, n = _S_HB.unpack_from(data, pos)
                pos += 3
                obj.queue = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                bits = data[pos]
                pos += 1
                obj.no_ack = (bits & 1) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class GetOk(amqp_object.Method):
        """basic.get-ok (60, 71): asynchronous; carries content."""

        INDEX = 0x003C0047  # (60 << 16) | 71
        NAME = "Basic.GetOk"
        synchronous = False
        has_content = True
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("delivery_tag", "longlong"),
            ("redelivered", "bit"),
            ("exchange", "shortstr"),
            ("routing_key", "shortstr"),
            ("message_count", "long"),
        )
        __slots__ = ("delivery_tag", "redelivered", "exchange", "routing_key", "message_count")

        def __init__(
            self,
            delivery_tag: Optional[int] = None,
            redelivered: bool = False,
            exchange: Optional[str] = None,
            routing_key: Optional[str] = None,
            message_count: Optional[int] = None,
        ) -> None:
            self.delivery_tag = delivery_tag
            self.redelivered = redelivered
            self.exchange = exchange
            self.routing_key = routing_key
            self.message_count = message_count

        def encode(self) -> bytes:
            if (
                self.delivery_tag is None
                or self.exchange is None
                or self.routing_key is None
                or self.message_count is None
            ):
                raise required_error(self, ("delivery_tag", "exchange", "routing_key", "message_count"))
            try:
                exchange = self.exchange.encode()
                routing_key = self.routing_key.encode()
                bits = (1 if self.redelivered else 0)
                return b"".join((
                    _S_HHQBB.pack(60, 71, self.delivery_tag, bits, len(exchange)),
                    exchange,
                    _S_B.pack(len(routing_key)),
                    routing_key,
                    _S_I.pack(self.message_count),
                ))
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.GetOk", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.delivery_tag, bits, n = _S_QBB.unpack_from(data, pos)
                pos += 10
                obj.redelivered = (bits & 1) != 0
                obj.exchange = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                n = data[pos]
                pos += 1
                obj.routing_key = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
                obj.message_count = _S_I.unpack_from(data, pos)[0]
                pos += 4
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class GetEmpty(amqp_object.Method):
        """basic.get-empty (60, 72): asynchronous."""

        INDEX = 0x003C0048  # (60 << 16) | 72
        NAME = "Basic.GetEmpty"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("cluster_id", "shortstr"),
        )
        __slots__ = ("cluster_id",)

        def __init__(self, cluster_id: str = "") -> None:
            self.cluster_id = cluster_id

        def encode(self) -> bytes:
            try:
                cluster_id = self.cluster_id.encode()
                return _S_HHB.pack(60, 72, len(cluster_id)) + cluster_id
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.GetEmpty", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                n = data[pos]
                pos += 1
                obj.cluster_id = data[pos:pos + n].decode("utf-8", "surrogateescape")
                pos += n
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            if pos > len(data):
                return decode_method_checked(cls, data, offset)  # raises: truncated
            return obj, pos

    class Ack(amqp_object.Method):
        """basic.ack (60, 80): asynchronous."""

        INDEX = 0x003C0050  # (60 << 16) | 80
        NAME = "Basic.Ack"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("delivery_tag", "longlong"),
            ("multiple", "bit"),
        )
        __slots__ = ("delivery_tag", "multiple")

        def __init__(self, delivery_tag: int = 0, multiple: bool = False) -> None:
            self.delivery_tag = delivery_tag
            self.multiple = multiple

        def encode(self) -> bytes:
            try:
                bits = (1 if self.multiple else 0)
                return _S_HHQB.pack(60, 80, self.delivery_tag, bits)
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.Ack", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.delivery_tag, bits = _S_QB.unpack_from(data, pos)
                pos += 9
                obj.multiple = (bits & 1) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class Reject(amqp_object.Method):
        """basic.reject (60, 90): asynchronous."""

        INDEX = 0x003C005A  # (60 << 16) | 90
        NAME = "Basic.Reject"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("delivery_tag", "longlong"),
            ("requeue", "bit"),
        )
        __slots__ = ("delivery_tag", "requeue")

        def __init__(self, delivery_tag: Optional[int] = None, requeue: bool = True) -> None:
            self.delivery_tag = delivery_tag
            self.requeue = requeue

        def encode(self) -> bytes:
            if self.delivery_tag is None:
                raise required_error(self, ("delivery_tag",))
            try:
                bits = (1 if self.requeue else 0)
                return _S_HHQB.pack(60, 90, self.delivery_tag, bits)
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.Reject", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.delivery_tag, bits = _S_QB.unpack_from(data, pos)
                pos += 9
                obj.requeue = (bits & 1) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class RecoverAsync(amqp_object.Method):
        """basic.recover-async (60, 100): asynchronous."""

        INDEX = 0x003C0064  # (60 << 16) | 100
        NAME = "Basic.RecoverAsync"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("requeue", "bit"),
        )
        __slots__ = ("requeue",)

        def __init__(self, requeue: bool = False) -> None:
            self.requeue = requeue

        def encode(self) -> bytes:
            try:
                bits = (1 if self.requeue else 0)
                return _S_HHB.pack(60, 100, bits)
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.RecoverAsync", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                bits = data[pos]
                pos += 1
                obj.requeue = (bits & 1) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class Recover(amqp_object.Method):
        """basic.recover (60, 110): synchronous, answered by RecoverOk."""

        INDEX = 0x003C006E  # (60 << 16) | 110
        NAME = "Basic.Recover"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("requeue", "bit"),
        )
        __slots__ = ("requeue",)

        def __init__(self, requeue: bool = False) -> None:
            self.requeue = requeue

        def encode(self) -> bytes:
            try:
                bits = (1 if self.requeue else 0)
                return _S_HHB.pack(60, 110, bits)
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.Recover", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                bits = data[pos]
                pos += 1
                obj.requeue = (bits & 1) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class RecoverOk(amqp_object.Method):
        """basic.recover-ok (60, 111): asynchronous."""

        INDEX = 0x003C006F  # (60 << 16) | 111
        NAME = "Basic.RecoverOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00<\x00o'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.RecoverOk", int]:
            return cls(), offset

    class Nack(amqp_object.Method):
        """basic.nack (60, 120): asynchronous."""

        INDEX = 0x003C0078  # (60 << 16) | 120
        NAME = "Basic.Nack"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("delivery_tag", "longlong"),
            ("multiple", "bit"),
            ("requeue", "bit"),
        )
        __slots__ = ("delivery_tag", "multiple", "requeue")

        def __init__(
            self,
            delivery_tag: int = 0,
            multiple: bool = False,
            requeue: bool = True,
        ) -> None:
            self.delivery_tag = delivery_tag
            self.multiple = multiple
            self.requeue = requeue

        def encode(self) -> bytes:
            try:
                bits = (1 if self.multiple else 0) | (2 if self.requeue else 0)
                return _S_HHQB.pack(60, 120, self.delivery_tag, bits)
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Basic.Nack", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                obj.delivery_tag, bits = _S_QB.unpack_from(data, pos)
                pos += 9
                obj.multiple = (bits & 1) != 0
                obj.requeue = (bits & 2) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos


class Tx(amqp_object.Class):
    """AMQP class tx (90)."""

    INDEX = 0x005A  # 90
    NAME = "Tx"

    class Select(amqp_object.Method):
        """tx.select (90, 10): synchronous, answered by SelectOk."""

        INDEX = 0x005A000A  # (90 << 16) | 10
        NAME = "Tx.Select"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00Z\x00\n'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Tx.Select", int]:
            return cls(), offset

    class SelectOk(amqp_object.Method):
        """tx.select-ok (90, 11): asynchronous."""

        INDEX = 0x005A000B  # (90 << 16) | 11
        NAME = "Tx.SelectOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00Z\x00\x0b'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Tx.SelectOk", int]:
            return cls(), offset

    class Commit(amqp_object.Method):
        """tx.commit (90, 20): synchronous, answered by CommitOk."""

        INDEX = 0x005A0014  # (90 << 16) | 20
        NAME = "Tx.Commit"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00Z\x00\x14'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Tx.Commit", int]:
            return cls(), offset

    class CommitOk(amqp_object.Method):
        """tx.commit-ok (90, 21): asynchronous."""

        INDEX = 0x005A0015  # (90 << 16) | 21
        NAME = "Tx.CommitOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00Z\x00\x15'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Tx.CommitOk", int]:
            return cls(), offset

    class Rollback(amqp_object.Method):
        """tx.rollback (90, 30): synchronous, answered by RollbackOk."""

        INDEX = 0x005A001E  # (90 << 16) | 30
        NAME = "Tx.Rollback"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00Z\x00\x1e'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Tx.Rollback", int]:
            return cls(), offset

    class RollbackOk(amqp_object.Method):
        """tx.rollback-ok (90, 31): asynchronous."""

        INDEX = 0x005A001F  # (90 << 16) | 31
        NAME = "Tx.RollbackOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00Z\x00\x1f'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Tx.RollbackOk", int]:
            return cls(), offset


class Confirm(amqp_object.Class):
    """AMQP class confirm (85)."""

    INDEX = 0x0055  # 85
    NAME = "Confirm"

    class Select(amqp_object.Method):
        """confirm.select (85, 10): synchronous, answered by SelectOk."""

        INDEX = 0x0055000A  # (85 << 16) | 10
        NAME = "Confirm.Select"
        synchronous = True
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
            ("nowait", "bit"),
        )
        __slots__ = ("nowait",)

        def __init__(self, nowait: bool = False) -> None:
            self.nowait = nowait

        def encode(self) -> bytes:
            try:
                bits = (1 if self.nowait else 0)
                return _S_HHB.pack(85, 10, bits)
            except ENCODE_FALLBACK:
                return encode_method_checked(self)

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Confirm.Select", int]:
            obj = cls.__new__(cls)
            pos = offset
            try:
                bits = data[pos]
                pos += 1
                obj.nowait = (bits & 1) != 0
            except DECODE_FALLBACK:
                return decode_method_checked(cls, data, offset)
            return obj, pos

    class SelectOk(amqp_object.Method):
        """confirm.select-ok (85, 11): asynchronous."""

        INDEX = 0x0055000B  # (85 << 16) | 11
        NAME = "Confirm.SelectOk"
        synchronous = False
        has_content = False
        ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()
        __slots__ = ()

        def encode(self) -> bytes:
            return b'\x00U\x00\x0b'

        @classmethod
        def decode(cls, data: Bytes, offset: int) -> Tuple["Confirm.SelectOk", int]:
            return cls(), offset


class BasicProperties(amqp_object.Properties):
    """Content header properties of basic (class 60) in pika's order.

    ``None`` means absent. ``encode()`` gives the property flags and the present values;
    ``decode(data, offset)`` reads them back, also across continuation flag words.
    """

    CLASS = Basic
    INDEX = 60
    NAME = "BasicProperties"
    FLAG_CONTENT_TYPE = 1 << 15
    FLAG_CONTENT_ENCODING = 1 << 14
    FLAG_HEADERS = 1 << 13
    FLAG_DELIVERY_MODE = 1 << 12
    FLAG_PRIORITY = 1 << 11
    FLAG_CORRELATION_ID = 1 << 10
    FLAG_REPLY_TO = 1 << 9
    FLAG_EXPIRATION = 1 << 8
    FLAG_MESSAGE_ID = 1 << 7
    FLAG_TIMESTAMP = 1 << 6
    FLAG_TYPE = 1 << 5
    FLAG_USER_ID = 1 << 4
    FLAG_APP_ID = 1 << 3
    FLAG_CLUSTER_ID = 1 << 2
    ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = (
        ("content_type", "shortstr"),
        ("content_encoding", "shortstr"),
        ("headers", "table"),
        ("delivery_mode", "octet"),
        ("priority", "octet"),
        ("correlation_id", "shortstr"),
        ("reply_to", "shortstr"),
        ("expiration", "shortstr"),
        ("message_id", "shortstr"),
        ("timestamp", "timestamp"),
        ("type", "shortstr"),
        ("user_id", "shortstr"),
        ("app_id", "shortstr"),
        ("cluster_id", "shortstr"),
    )
    __slots__ = (
        "content_type",
        "content_encoding",
        "headers",
        "delivery_mode",
        "priority",
        "correlation_id",
        "reply_to",
        "expiration",
        "message_id",
        "timestamp",
        "type",
        "user_id",
        "app_id",
        "cluster_id",
    )

    def __init__(
        self,
        content_type: Optional[str] = None,
        content_encoding: Optional[str] = None,
        headers: Optional[Mapping[str, Any]] = None,
        delivery_mode: Optional[Union[int, DeliveryMode]] = None,
        priority: Optional[int] = None,
        correlation_id: Optional[str] = None,
        reply_to: Optional[str] = None,
        expiration: Optional[str] = None,
        message_id: Optional[str] = None,
        timestamp: Optional[int] = None,
        type: Optional[str] = None,
        user_id: Optional[str] = None,
        app_id: Optional[str] = None,
        cluster_id: Optional[str] = None,
    ) -> None:
        self.content_type = content_type
        self.content_encoding = content_encoding
        self.headers = headers
        self.delivery_mode = (
            delivery_mode.value if _class_of(delivery_mode) is DeliveryMode else delivery_mode
        )
        self.priority = priority
        self.correlation_id = correlation_id
        self.reply_to = reply_to
        self.expiration = expiration
        self.message_id = message_id
        self.timestamp = timestamp
        self.type = type
        self.user_id = user_id
        self.app_id = app_id
        self.cluster_id = cluster_id

    def encode(self) -> bytes:
        try:
            flags = 0
            pieces = [b""]  # [0] becomes the flag word
            append = pieces.append
            if self.content_type is not None:
                flags |= 0x8000
                raw = self.content_type.encode()
                append(_S_B.pack(len(raw)))
                append(raw)
            if self.content_encoding is not None:
                flags |= 0x4000
                raw = self.content_encoding.encode()
                append(_S_B.pack(len(raw)))
                append(raw)
            if self.headers is not None:
                flags |= 0x2000
                append(encode_table(self.headers))
            if self.delivery_mode is not None:
                flags |= 0x1000
                append(_S_B.pack(self.delivery_mode))
            if self.priority is not None:
                flags |= 0x0800
                append(_S_B.pack(self.priority))
            if self.correlation_id is not None:
                flags |= 0x0400
                raw = self.correlation_id.encode()
                append(_S_B.pack(len(raw)))
                append(raw)
            if self.reply_to is not None:
                flags |= 0x0200
                raw = self.reply_to.encode()
                append(_S_B.pack(len(raw)))
                append(raw)
            if self.expiration is not None:
                flags |= 0x0100
                raw = self.expiration.encode()
                append(_S_B.pack(len(raw)))
                append(raw)
            if self.message_id is not None:
                flags |= 0x0080
                raw = self.message_id.encode()
                append(_S_B.pack(len(raw)))
                append(raw)
            if self.timestamp is not None:
                flags |= 0x0040
                append(_S_Q.pack(self.timestamp))
            if self.type is not None:
                flags |= 0x0020
                raw = self.type.encode()
                append(_S_B.pack(len(raw)))
                append(raw)
            if self.user_id is not None:
                flags |= 0x0010
                raw = self.user_id.encode()
                append(_S_B.pack(len(raw)))
                append(raw)
            if self.app_id is not None:
                flags |= 0x0008
                raw = self.app_id.encode()
                append(_S_B.pack(len(raw)))
                append(raw)
            if self.cluster_id is not None:
                flags |= 0x0004
                raw = self.cluster_id.encode()
                append(_S_B.pack(len(raw)))
                append(raw)
            pieces[0] = _S_H.pack(flags)
            return b"".join(pieces)
        except ENCODE_FALLBACK:
            return encode_properties_checked(self)

    @classmethod
    def decode(cls, data: Bytes, offset: int) -> Tuple["BasicProperties", int]:
        obj = cls.__new__(cls)
        try:
            flags = _S_H.unpack_from(data, offset)[0]
            if flags & 0x0003:  # continuation or unknown property: generic path
                return decode_properties_checked(cls, data, offset)
            if not flags:  # no property present (common): skip the per-flag tests
                obj.content_type = None
                obj.content_encoding = None
                obj.headers = None
                obj.delivery_mode = None
                obj.priority = None
                obj.correlation_id = None
                obj.reply_to = None
                obj.expiration = None
                obj.message_id = None
                obj.timestamp = None
                obj.type = None
                obj.user_id = None
                obj.app_id = None
                obj.cluster_id = None
                return obj, offset + 2
            pos = offset + 2
            if flags & 0x8000:
                n = data[pos]
                obj.content_type = data[pos + 1:pos + 1 + n].decode("utf-8", "surrogateescape")
                pos += 1 + n
            else:
                obj.content_type = None
            if flags & 0x4000:
                n = data[pos]
                obj.content_encoding = data[pos + 1:pos + 1 + n].decode("utf-8", "surrogateescape")
                pos += 1 + n
            else:
                obj.content_encoding = None
            if flags & 0x2000:
                obj.headers, pos = decode_table(data, pos)
            else:
                obj.headers = None
            if flags & 0x1000:
                obj.delivery_mode = data[pos]
                pos += 1
            else:
                obj.delivery_mode = None
            if flags & 0x0800:
                obj.priority = data[pos]
                pos += 1
            else:
                obj.priority = None
            if flags & 0x0400:
                n = data[pos]
                obj.correlation_id = data[pos + 1:pos + 1 + n].decode("utf-8", "surrogateescape")
                pos += 1 + n
            else:
                obj.correlation_id = None
            if flags & 0x0200:
                n = data[pos]
                obj.reply_to = data[pos + 1:pos + 1 + n].decode("utf-8", "surrogateescape")
                pos += 1 + n
            else:
                obj.reply_to = None
            if flags & 0x0100:
                n = data[pos]
                obj.expiration = data[pos + 1:pos + 1 + n].decode("utf-8", "surrogateescape")
                pos += 1 + n
            else:
                obj.expiration = None
            if flags & 0x0080:
                n = data[pos]
                obj.message_id = data[pos + 1:pos + 1 + n].decode("utf-8", "surrogateescape")
                pos += 1 + n
            else:
                obj.message_id = None
            if flags & 0x0040:
                obj.timestamp = _S_Q.unpack_from(data, pos)[0]
                pos += 8
            else:
                obj.timestamp = None
            if flags & 0x0020:
                n = data[pos]
                obj.type = data[pos + 1:pos + 1 + n].decode("utf-8", "surrogateescape")
                pos += 1 + n
            else:
                obj.type = None
            if flags & 0x0010:
                n = data[pos]
                obj.user_id = data[pos + 1:pos + 1 + n].decode("utf-8", "surrogateescape")
                pos += 1 + n
            else:
                obj.user_id = None
            if flags & 0x0008:
                n = data[pos]
                obj.app_id = data[pos + 1:pos + 1 + n].decode("utf-8", "surrogateescape")
                pos += 1 + n
            else:
                obj.app_id = None
            if flags & 0x0004:
                n = data[pos]
                obj.cluster_id = data[pos + 1:pos + 1 + n].decode("utf-8", "surrogateescape")
                pos += 1 + n
            else:
                obj.cluster_id = None
        except DECODE_FALLBACK:
            return decode_properties_checked(cls, data, offset)
        if pos > len(data):
            return decode_properties_checked(cls, data, offset)  # raises: truncated
        return obj, pos


# Replies, set once every method class exists.
Connection.Start.valid_responses = (Connection.StartOk,)
Connection.Secure.valid_responses = (Connection.SecureOk,)
Connection.Tune.valid_responses = (Connection.TuneOk,)
Connection.Open.valid_responses = (Connection.OpenOk,)
Connection.Close.valid_responses = (Connection.CloseOk,)
Connection.UpdateSecret.valid_responses = (Connection.UpdateSecretOk,)
Channel.Open.valid_responses = (Channel.OpenOk,)
Channel.Flow.valid_responses = (Channel.FlowOk,)
Channel.Close.valid_responses = (Channel.CloseOk,)
Access.Request.valid_responses = (Access.RequestOk,)
Exchange.Declare.valid_responses = (Exchange.DeclareOk,)
Exchange.Delete.valid_responses = (Exchange.DeleteOk,)
Exchange.Bind.valid_responses = (Exchange.BindOk,)
Exchange.Unbind.valid_responses = (Exchange.UnbindOk,)
Queue.Declare.valid_responses = (Queue.DeclareOk,)
Queue.Bind.valid_responses = (Queue.BindOk,)
Queue.Purge.valid_responses = (Queue.PurgeOk,)
Queue.Delete.valid_responses = (Queue.DeleteOk,)
Queue.Unbind.valid_responses = (Queue.UnbindOk,)
Basic.Qos.valid_responses = (Basic.QosOk,)
Basic.Consume.valid_responses = (Basic.ConsumeOk,)
Basic.Cancel.valid_responses = (Basic.CancelOk,)
Basic.Get.valid_responses = (Basic.GetOk, Basic.GetEmpty,)
Basic.Recover.valid_responses = (Basic.RecoverOk,)
Tx.Select.valid_responses = (Tx.SelectOk,)
Tx.Commit.valid_responses = (Tx.CommitOk,)
Tx.Rollback.valid_responses = (Tx.RollbackOk,)
Confirm.Select.valid_responses = (Confirm.SelectOk,)

METHODS: Dict[int, Type[amqp_object.Method]] = {
    0x000A000A: Connection.Start,
    0x000A000B: Connection.StartOk,
    0x000A0014: Connection.Secure,
    0x000A0015: Connection.SecureOk,
    0x000A001E: Connection.Tune,
    0x000A001F: Connection.TuneOk,
    0x000A0028: Connection.Open,
    0x000A0029: Connection.OpenOk,
    0x000A0032: Connection.Close,
    0x000A0033: Connection.CloseOk,
    0x000A003C: Connection.Blocked,
    0x000A003D: Connection.Unblocked,
    0x000A0046: Connection.UpdateSecret,
    0x000A0047: Connection.UpdateSecretOk,
    0x0014000A: Channel.Open,
    0x0014000B: Channel.OpenOk,
    0x00140014: Channel.Flow,
    0x00140015: Channel.FlowOk,
    0x00140028: Channel.Close,
    0x00140029: Channel.CloseOk,
    0x001E000A: Access.Request,
    0x001E000B: Access.RequestOk,
    0x0028000A: Exchange.Declare,
    0x0028000B: Exchange.DeclareOk,
    0x00280014: Exchange.Delete,
    0x00280015: Exchange.DeleteOk,
    0x0028001E: Exchange.Bind,
    0x0028001F: Exchange.BindOk,
    0x00280028: Exchange.Unbind,
    0x00280033: Exchange.UnbindOk,
    0x0032000A: Queue.Declare,
    0x0032000B: Queue.DeclareOk,
    0x00320014: Queue.Bind,
    0x00320015: Queue.BindOk,
    0x0032001E: Queue.Purge,
    0x0032001F: Queue.PurgeOk,
    0x00320028: Queue.Delete,
    0x00320029: Queue.DeleteOk,
    0x00320032: Queue.Unbind,
    0x00320033: Queue.UnbindOk,
    0x003C000A: Basic.Qos,
    0x003C000B: Basic.QosOk,
    0x003C0014: Basic.Consume,
    0x003C0015: Basic.ConsumeOk,
    0x003C001E: Basic.Cancel,
    0x003C001F: Basic.CancelOk,
    0x003C0028: Basic.Publish,
    0x003C0032: Basic.Return,
    0x003C003C: Basic.Deliver,
    0x003C0046: Basic.Get,
    0x003C0047: Basic.GetOk,
    0x003C0048: Basic.GetEmpty,
    0x003C0050: Basic.Ack,
    0x003C005A: Basic.Reject,
    0x003C0064: Basic.RecoverAsync,
    0x003C006E: Basic.Recover,
    0x003C006F: Basic.RecoverOk,
    0x003C0078: Basic.Nack,
    0x005A000A: Tx.Select,
    0x005A000B: Tx.SelectOk,
    0x005A0014: Tx.Commit,
    0x005A0015: Tx.CommitOk,
    0x005A001E: Tx.Rollback,
    0x005A001F: Tx.RollbackOk,
    0x0055000A: Confirm.Select,
    0x0055000B: Confirm.SelectOk,
}

PROPERTIES: Dict[int, Type[amqp_object.Properties]] = {
    60: BasicProperties,
}
