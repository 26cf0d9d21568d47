"""The asyncio adapter: :class:`AsyncioConnection` on a plain asyncio event loop (pika's name
and signature; no Tornado needed)."""

from .connection import AsyncioConnection

__all__ = ["AsyncioConnection"]
