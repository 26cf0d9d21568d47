"""WriteQueue: the bytes a transport was given to send and the kernel has not taken yet, the one
write queue of the socket transport (select, Tornado, asyncio) and the Twisted transport.

The hook contract (``docs/internals.md``) says ``_adapter_emit_data`` queues ``bytes`` and
memoryviews BY REFERENCE, never copying them into a bigger buffer, and that writes are
coalesced. A :class:`WriteQueue` is that queue: a deque of the caller's own buffers in order
(``buffers``) and the bytes they hold (``size``, what ``_adapter_get_write_buffer_size`` reports
for it). What leaves the queue leaves from its head:

* :meth:`send_direct` hands the buffers themselves to ``socket.sendmsg`` (scatter/gather: no
  copy) in batches (:meth:`next_sendmsg_batch`) until the kernel takes less than offered;
* :meth:`consume` drops what a send took, slicing a partly sent head with a ``memoryview``
  (again no copy);
* :meth:`peek_piece`/:meth:`take_piece` give one piece for a stream that has no ``sendmsg``
  (TLS): a large buffer as it is, or a run of small ones joined;
* :meth:`take_bytes` gives at most N bytes as one ``bytes`` (Twisted's ``transport.write``
  takes ``bytes`` only).

What stays in each transport is its own part: Twisted's hand-over of one piece, and the TLS
paths.

Appending is the per-publish hot path, so ``Transport.emit`` appends to ``buffers`` and adds to
``size`` inline instead of calling :meth:`append` (a Python method call per emit costs about as
much as the rest of ``emit``; see the adapter rows of ``docs/internals.md``). Whoever
appends keeps the invariant ``size == sum(len(b) for b in buffers)`` with ``len`` counting
bytes (a memoryview of wider items is cast to ``"B"`` first) and never queues an empty buffer.
"""

from __future__ import annotations

import collections
import itertools
import socket
from typing import Deque, List, Sequence, Tuple, Union

#: What the queue holds, each by reference: the caller must not modify it until it is sent.
Piece = Union[bytes, bytearray, memoryview]

#: Buffers per ``sendmsg`` call: Linux's IOV_MAX (``sendmsg`` fails with EMSGSIZE above it).
IOV_MAX = 1024
#: Bytes offered per ``sendmsg``: Linux's default ``tcp_wmem`` maximum (4 MiB) is the most a
#: send buffer takes, and after a partial write it takes about a third of that per WRITE event.
#: ``sendmsg`` builds an iovec for every buffer it is given, so offering a long backlog to a
#: full send buffer would cost per queued buffer for the few MiB accepted.
SENDMSG_BYTES = 4 * 1024 * 1024


class WriteQueue:
    """Buffers queued by reference, in order, and their byte count (see the module docstring).

    ``buffers`` and ``size`` are public so that a transport's ``emit`` can append inline; every
    other change goes through the methods, which keep ``size`` equal to the bytes in
    ``buffers``. ``buffers`` is never replaced (a transport may keep a reference to it).
    """

    __slots__ = ("buffers", "size")

    def __init__(self) -> None:
        self.buffers: Deque[Piece] = collections.deque()
        self.size = 0

    def append(self, data: Piece) -> None:
        """Queue ``data`` by reference (an empty one is ignored). ``len(data)`` must count
        bytes: cast a memoryview of wider items to ``"B"`` first."""
        size = len(data)
        if size:
            self.buffers.append(data)
            self.size += size

    def clear(self) -> None:
        """Forget everything queued."""
        self.buffers.clear()
        self.size = 0

    def consume(self, sent: int) -> None:
        """Drop the first ``sent`` bytes (what a send took; at most ``size``). A head sent in
        part is replaced by a ``memoryview`` of its rest, not copied."""
        self.size -= sent
        buffers = self.buffers
        if not self.size:
            buffers.clear()  # the usual case: the kernel took everything
            return
        while sent:
            head = buffers[0]
            size = len(head)
            if sent < size:
                buffers[0] = memoryview(head)[sent:]
                return
            buffers.popleft()
            sent -= size

    def next_sendmsg_batch(self) -> Tuple[Sequence[Piece], int]:
        """The head of the queue for one ``sendmsg``, and its byte count: at most
        :data:`IOV_MAX` buffers, and buffers only until :data:`SENDMSG_BYTES` is reached (the
        last one may cross it; one huge buffer is offered whole). The whole queue when it fits:
        then the deque itself, no list is built."""
        buffers = self.buffers
        if self.size <= SENDMSG_BYTES and len(buffers) <= IOV_MAX:
            return buffers, self.size
        batch: List[Piece] = []
        offered = 0
        for buf in buffers:
            batch.append(buf)
            offered += len(buf)
            if offered >= SENDMSG_BYTES or len(batch) == IOV_MAX:
                break
        return batch, offered

    def send_direct(self, sock: socket.socket) -> None:
        """``sendmsg`` the queue on ``sock`` (a non-blocking plain TCP socket), batch after
        batch, until it is empty or the kernel takes less than offered (its send buffer is
        full: one more call would fail with EAGAIN). May raise ``OSError``; a
        ``BlockingIOError`` means the kernel took nothing, and the queue is unchanged."""
        buffers = self.buffers
        while buffers:
            if self.size <= SENDMSG_BYTES and len(buffers) <= IOV_MAX:
                offered = self.size  # the usual case, without building a batch
                sent = sock.sendmsg(buffers)
            else:
                batch, offered = self.next_sendmsg_batch()
                sent = sock.sendmsg(batch)
            self.consume(sent)
            if sent < offered:
                return

    def peek_piece(self, join_below: int, limit: int) -> Piece:
        """The next piece for a stream without ``sendmsg``, left in the queue (``consume``
        what was sent of it): the head as it is when it, or the buffer after it, has
        ``join_below`` bytes or more (a body slice: never copied); else the run of buffers
        under ``join_below`` bytes at the head, joined, stopping once ``limit`` bytes are
        reached. The queue must not be empty."""
        buffers = self.buffers
        head = buffers[0]
        size = len(head)
        if size >= join_below or len(buffers) == 1 or len(buffers[1]) >= join_below:
            return head
        parts: List[Piece] = [head]
        for buf in itertools.islice(buffers, 1, None):
            if size >= limit or len(buf) >= join_below:
                break
            parts.append(buf)
            size += len(buf)
        return b"".join(parts)

    def take_piece(self, join_below: int, limit: int) -> Piece:
        """:meth:`peek_piece`, removed from the queue."""
        piece = self.peek_piece(join_below, limit)
        self.consume(len(piece))
        return piece

    def take_bytes(self, limit: int) -> bytes:
        """Remove and return the first ``limit`` bytes (all, when fewer are queued) as one
        ``bytes``: the head itself when it is a ``bytes`` of at most ``limit``, else a copy
        joined from the head buffers, the last one sliced. The queue must not be empty."""
        buffers = self.buffers
        parts: List[Piece] = []
        size = 0
        while buffers and size < limit:
            head = buffers[0]
            room = limit - size
            if len(head) > room:
                view = memoryview(head)
                parts.append(view[:room])
                buffers[0] = view[room:]
                size += room
                break
            parts.append(buffers.popleft())
            size += len(head)
        self.size -= size
        if len(parts) == 1 and type(parts[0]) is bytes:
            return parts[0]
        return b"".join(parts)


__all__ = ["IOV_MAX", "Piece", "SENDMSG_BYTES", "WriteQueue"]
