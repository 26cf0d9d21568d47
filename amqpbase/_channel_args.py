"""What :class:`amqpbase.channel.Channel` checks and records on the user's side.

- argument validators used by the public channel methods, so that bad input from the user
  raises before anything is sent and before any channel state changes;
- :class:`Registration`, the record of a callback added with ``add_callback`` or an ``add_on_*``
  helper (public in this package-internal module: ``Channel`` keeps lists of them).

Must not: hold protocol state (that is ``protocol.channel_machine``), send bytes or call
user code.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any, Callable, Dict, Optional

from amqpbase import exceptions
from amqpbase.amqp_object import Method


class Registration:
    """A callback added with ``Channel.add_callback`` (or one of the ``add_on_*`` helpers)."""

    __slots__ = ("callback", "arguments", "one_shot")

    def __init__(
        self, callback: Callable[..., Any], arguments: Optional[Dict[str, Any]], one_shot: bool
    ) -> None:
        self.callback = callback
        self.arguments = arguments
        self.one_shot = one_shot

    def matches(self, method: Method) -> bool:
        if not self.arguments:
            return True
        return all(getattr(method, k, None) == v for k, v in self.arguments.items())


# --------------------------------------------------------------------------------------------
# Argument validation: every check runs before anything is sent or any state changes.
# --------------------------------------------------------------------------------------------


def require_str(value: Any, name: str) -> None:
    """``value`` must be a ``str`` (TypeError, like pika's validators) that fits an AMQP
    shortstr: at most 255 bytes once UTF-8 encoded (``ShortStringTooLong``, a ValueError,
    naming the argument). Every channel argument checked with this is a shortstr field; none
    is on a per-message hot path (``basic_publish`` calls it only when a fast type check
    misses).

    The length is measured here, not only by the codec, because some methods may not encode
    the value at all (``basic_cancel`` of an unknown tag logs and returns), and a message
    naming the argument beats the codec's field path. Encoding uses ``surrogateescape`` like
    the codec (amqpbase.fieldtable), so a string decoded from the wire is accepted back.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, but got {value!r}")
    try:
        size = len(value.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not encodable as UTF-8") from None
    if size > 255:
        raise exceptions.ShortStringTooLong(
            f"{name} must encode to at most 255 UTF-8 bytes (a shortstr), got {size}"
        )


def optional_callback(callback: Any, name: str = "callback") -> bool:
    """``callback`` must be callable or None (TypeError). Returns True when it is None.

    For the methods where pika derives ``nowait`` from the callback, the return value is
    that ``nowait`` flag.
    """
    if callback is None:
        return True
    if not callable(callback):
        raise TypeError(f"{name} must be callable or None, but got {callback!r}")
    return False


_UINT_MAX = {8: 0xFF, 16: 0xFFFF, 32: 0xFFFFFFFF, 64: 0xFFFFFFFFFFFFFFFF}


def require_uint(value: Any, name: str, bits: int) -> None:
    """``value`` must be an ``int`` (not a ``bool``: ``basic_ack(True)`` is a mistake, not
    tag 1) in the unsigned range of an AMQP octet/short/long/longlong."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, but got {value!r}")
    if not 0 <= value <= _UINT_MAX[bits]:
        raise ValueError(f"{name} must be in 0..{_UINT_MAX[bits]}, but got {value!r}")


def require_table(value: Any, name: str = "arguments") -> None:
    """``value`` must be a mapping (encoded as an AMQP field table) or None."""
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict or None, but got {value!r}")


def check_encodable(method: Method) -> None:
    """Encode ``method`` once and discard the bytes, so that a value the codec refuses
    (shortstr over 255 bytes -> ``ShortStringTooLong``, unencodable table value ->
    ``UnsupportedAMQPFieldException``) fails in the user's call, not later when a queued RPC
    is sent from inside frame processing (which would poison the connection).
    """
    try:
        method.encode()
    except (struct.error, OverflowError) as exc:
        raise ValueError(f"cannot encode {method!r}: {exc}") from exc
