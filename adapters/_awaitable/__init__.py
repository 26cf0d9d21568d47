"""The awaitable API, loop-neutral over asyncio: :class:`FutureConnection`,
:class:`FutureChannel`, :class:`MessageQueue`, :class:`ReceivedMessage` and
:func:`make_connect`, which an adapter whose loop is an asyncio loop turns into its
``connect`` (``adapters/tornado``: ``connect = make_connect(TornadoConnection)``).

A confirm-mode ``basic_publish`` returns a :class:`PublishFuture` (an ``asyncio.Future``
whose done-callbacks for one ack frame run from one loop callback: ``_publish.py``).

Built on the callback API only (``Connection``/``Channel``); publisher confirms are settled
by the core's engine (``Channel.basic_publish(on_confirm=)``), consumer queues by
``protocol.consumers``, exactly as for the Twisted Deferred API.
"""

from ._publish import PublishFuture
from ._tools import MessageQueue, ReceivedMessage
from .channel import FutureChannel
from .connection import FutureConnection, make_connect

__all__ = ["FutureChannel", "FutureConnection", "MessageQueue", "PublishFuture",
           "ReceivedMessage", "make_connect"]
