"""The select adapter: :class:`SelectConnection` on :class:`IOLoop` (stdlib :mod:`selectors`)."""

from .connection import SelectConnection
from .ioloop import IOLoop

__all__ = ["IOLoop", "SelectConnection"]
