"""WriteQueue (``adapters/_transport/queue.py``), the write queue of all three adapters: buffers kept
by reference, a partly sent head sliced (never copied), ``sendmsg`` batches capped by buffer
count and bytes, partial sends on a real socketpair, and the pieces for streams without
``sendmsg`` (TLS, Tornado's IOStream, Twisted's ``transport.write``)."""

from __future__ import annotations

import socket
from typing import Iterator, List, Tuple

import pytest

from amqpbase.adapters._transport.queue import IOV_MAX, SENDMSG_BYTES, Piece, WriteQueue


def queue_of(*buffers: Piece) -> WriteQueue:
    queue = WriteQueue()
    for buf in buffers:
        queue.append(buf)
    return queue


def pattern(size: int, seed: int = 0) -> bytes:
    """``size`` bytes that do not repeat with a short period, so misordering shows."""
    block = bytes((seed + i * 7) % 251 for i in range(251))
    return (block * (size // len(block) + 1))[:size]


class CountingSocket(socket.socket):
    """A real socket that records how many buffers each ``sendmsg`` was offered."""

    def __init__(self, fileno: int) -> None:
        super().__init__(socket.AF_UNIX, socket.SOCK_STREAM, fileno=fileno)
        self.calls: List[int] = []

    def sendmsg(self, buffers, *args):  # type: ignore[no-untyped-def, override]
        buffers = list(buffers)
        self.calls.append(len(buffers))
        return super().sendmsg(buffers, *args)


@pytest.fixture
def pair() -> Iterator[Tuple[CountingSocket, socket.socket]]:
    """A non-blocking sender with a small send buffer and a blocking receiver."""
    a, b = socket.socketpair()
    sender = CountingSocket(a.detach())
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    sender.setblocking(False)
    b.settimeout(5)
    yield sender, b
    sender.close()
    b.close()


def receive(sock: socket.socket, size: int) -> bytes:
    got = bytearray()
    while len(got) < size:
        chunk = sock.recv(size - len(got))
        assert chunk, "peer closed early"
        got += chunk
    return bytes(got)


# ------------------------------------------------------------------ size and consume


def test_append_keeps_buffers_by_reference_and_counts_bytes() -> None:
    body = bytearray(b"b" * 100)
    view = memoryview(body)[10:60]
    queue = queue_of(b"head", b"", view, body)
    assert list(queue.buffers) == [b"head", view, body]  # the empty one is not queued
    assert queue.buffers[1] is view and queue.buffers[2] is body
    assert queue.size == 4 + 50 + 100


def test_consume_slices_a_partly_sent_head_without_copying() -> None:
    body = bytes(range(200))
    queue = queue_of(b"abc", body, b"tail")
    queue.consume(3 + 50)  # the first buffer whole, 50 bytes of the body
    head = queue.buffers[0]
    assert isinstance(head, memoryview) and head.obj is body  # a view of the caller's bytes
    assert bytes(head) == body[50:]
    assert queue.size == 150 + 4 and len(queue.buffers) == 2
    queue.consume(150 + 2)
    assert [bytes(b) for b in queue.buffers] == [b"il"] and queue.size == 2
    queue.consume(2)
    assert not queue.buffers and queue.size == 0


def test_clear_forgets_everything_and_keeps_the_same_deque() -> None:
    queue = queue_of(b"x" * 10, b"y")
    buffers = queue.buffers
    queue.clear()
    assert queue.buffers is buffers and not buffers and queue.size == 0


# ------------------------------------------------------------------ sendmsg batches


def test_a_queue_that_fits_is_offered_whole_as_the_deque_itself() -> None:
    queue = queue_of(*[b"%04d" % i for i in range(IOV_MAX)])
    batch, offered = queue.next_sendmsg_batch()
    assert batch is queue.buffers and offered == 4 * IOV_MAX == queue.size


def test_batches_are_capped_at_iov_max_buffers() -> None:
    queue = queue_of(*[b"%04d" % i for i in range(IOV_MAX + 5)])
    batch, offered = queue.next_sendmsg_batch()
    assert len(batch) == IOV_MAX and offered == 4 * IOV_MAX
    assert list(batch) == list(queue.buffers)[:IOV_MAX]
    assert queue.size == 4 * (IOV_MAX + 5)  # choosing a batch removes nothing


def test_batches_stop_at_the_buffer_that_reaches_sendmsg_bytes() -> None:
    third = SENDMSG_BYTES // 3 + 1
    bufs = [memoryview(bytearray(third)) for _ in range(5)]
    queue = queue_of(*bufs)
    batch, offered = queue.next_sendmsg_batch()
    assert list(batch) == bufs[:3] and offered == 3 * third >= SENDMSG_BYTES
    huge = queue_of(bytes(SENDMSG_BYTES + 1), b"after")
    batch, offered = huge.next_sendmsg_batch()
    assert len(batch) == 1 and offered == SENDMSG_BYTES + 1  # one huge buffer: offered whole


def test_send_direct_takes_one_sendmsg_per_iov_max_buffers(
    pair: Tuple[CountingSocket, socket.socket],
) -> None:
    sender, peer = pair
    parts = [b"%05d" % i for i in range(3000)]  # 15,000 bytes: fits the socket's buffer
    queue = queue_of(*parts)
    queue.send_direct(sender)
    assert sender.calls == [IOV_MAX, IOV_MAX, 3000 - 2 * IOV_MAX]
    assert not queue.buffers and queue.size == 0
    assert receive(peer, 15_000) == b"".join(parts)


def test_send_direct_stops_at_a_partial_send_and_resumes_in_order(
    pair: Tuple[CountingSocket, socket.socket],
) -> None:
    sender, peer = pair
    body = pattern(4 * 1024 * 1024)  # far more than a socketpair's buffers hold
    view = memoryview(body)
    parts: List[Piece] = [b"frame-header"]
    for offset in range(0, len(body), 64 * 1024):
        parts += [view[offset:offset + 64 * 1024], b"\xce"]
    expected = b"".join(parts)
    queue = queue_of(*parts)

    queue.send_direct(sender)
    assert len(sender.calls) == 1  # the kernel took less than offered: no second call
    sent = len(expected) - queue.size
    assert 0 < sent < len(expected)
    # The rest is still the caller's memory: whole views of the body, or a slice of one.
    assert all(b == b"\xce" or (isinstance(b, memoryview) and b.obj is body)
               for b in queue.buffers)
    with pytest.raises(BlockingIOError):  # full: the kernel takes nothing ...
        queue.send_direct(sender)
    assert len(expected) - queue.size == sent  # ... and the queue is unchanged

    received = bytearray()
    while queue.buffers:  # the peer reads, the sender sends what is left
        received += peer.recv(1024 * 1024)
        try:
            queue.send_direct(sender)
        except BlockingIOError:
            pass
    received += receive(peer, len(expected) - len(received))
    assert bytes(received) == expected and queue.size == 0


# ------------------------------------------------------------------ pieces without sendmsg


def test_a_large_head_is_a_piece_of_its_own_by_reference() -> None:
    body = memoryview(bytearray(20_000))
    queue = queue_of(body, b"glue")
    assert queue.peek_piece(16_384, 65_536) is body and queue.size == 20_004  # peek: kept
    assert queue.take_piece(16_384, 65_536) is body
    assert list(queue.buffers) == [b"glue"] and queue.size == 4


def test_a_small_head_before_a_large_buffer_goes_alone() -> None:
    body = bytes(20_000)
    queue = queue_of(b"header", body)
    piece = queue.take_piece(16_384, 65_536)
    assert piece == b"header" and queue.buffers[0] is body


def test_small_buffers_are_joined_until_the_limit_is_reached() -> None:
    smalls = [pattern(1000, seed) for seed in range(10)]
    queue = queue_of(*smalls, bytes(20_000))
    piece = queue.take_piece(16_384, 3_500)  # 4 x 1000 reaches 3,500: the run stops there
    assert piece == b"".join(smalls[:4])
    assert queue.size == 6 * 1000 + 20_000 and queue.buffers[0] is smalls[4]
    piece = queue.take_piece(16_384, 100_000)  # up to the large buffer
    assert piece == b"".join(smalls[4:]) and len(queue.buffers) == 1


def test_take_bytes_slices_the_buffer_that_crosses_the_limit() -> None:
    body = bytearray(pattern(10_000))
    queue = queue_of(b"abc", body, b"end")
    piece = queue.take_bytes(4_003)
    assert type(piece) is bytes and piece == b"abc" + bytes(body[:4_000])
    head = queue.buffers[0]
    assert isinstance(head, memoryview) and head.obj is body  # the rest: not copied
    assert queue.size == 6_000 + 3
    assert queue.take_bytes(1_000_000) == bytes(body[4_000:]) + b"end"
    assert not queue.buffers and queue.size == 0


def test_take_bytes_hands_back_a_bytes_head_itself() -> None:
    first = b"x" * 100
    queue = queue_of(first, memoryview(b"y" * 50))
    assert queue.take_bytes(100) is first
    piece = queue.take_bytes(100)  # a view is copied: transport.write wants bytes
    assert type(piece) is bytes and piece == b"y" * 50 and queue.size == 0
