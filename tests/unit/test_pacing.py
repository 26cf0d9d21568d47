"""Content pacing (``amqpbase/pacing.py`` and the link): the ordering rules, on the real
Connection and Channel over the in-memory harness, decoded with the real frame decoder.

The rules (AMQP 0-9-1, 4.2.6): a message's content frames follow its method frame with no
other frame of its channel in between; frames of other channels may come between any two
frames, and do, at body-frame granularity, when a large message is paced; each channel's
frames keep their order; every frame is whole. What the client published before ``close()``
still goes out before Connection.Close.
"""

from __future__ import annotations

from typing import Any, List, Tuple

from amqpbase import frame, spec
from amqpbase.pacing import PACED_ABOVE, SLICE, content_units

from .harness import MemoryConnection, ScriptedBroker, open_connection

FRAME_MAX = 131072


def frames_of(connection: MemoryConnection, start: int = 0) -> List[Any]:
    """Every frame emitted from chunk ``start`` on, decoded (a split frame fails here)."""
    decoder = frame.FrameDecoder(2**31 - 1)
    found: List[Any] = []
    for chunk in connection.outbound[start:]:
        found.extend(decoder.feed(chunk))
    return found


def open_two_channels() -> Tuple[MemoryConnection, ScriptedBroker, Any, Any]:
    connection, broker = open_connection(frame_max=FRAME_MAX)
    first = broker.open_channel(1)
    second = broker.open_channel(2)
    return connection, broker, first, second


def kinds(frames: List[Any], channel: int) -> List[str]:
    """The frames of one channel as method names / "header" / "body"."""
    out = []
    for got in frames:
        if got.channel_number != channel:
            continue
        if isinstance(got, frame.Method):
            out.append(got.method.NAME)
        elif isinstance(got, frame.Header):
            out.append("header")
        elif isinstance(got, frame.Body):
            out.append("body")
    return out


def test_content_units_are_whole_frames_and_add_up_to_the_encoders_bytes() -> None:
    body = bytes(range(256)) * (3 * FRAME_MAX // 256 + 7)
    chunks = frame.encode_content_frames(5, spec.Basic.Publish(0, "", "q"), None, body, FRAME_MAX)
    units = content_units(chunks)
    assert len(units) == 4  # 3 full body frames and a short one
    assert b"".join(bytes(p) for u in units for p in u) == b"".join(bytes(c) for c in chunks)
    for index, unit in enumerate(units):
        decoded = frame.FrameDecoder(2**31 - 1).feed(b"".join(bytes(p) for p in unit))
        assert [type(f) for f in decoded] == ([frame.Method, frame.Header, frame.Body]
                                              if index == 0 else [frame.Body])


def test_small_publishes_on_another_channel_pass_a_large_message_between_its_body_frames() -> None:
    connection, broker, first, second = open_two_channels()
    start = len(connection.outbound)
    large = bytes(range(256)) * (16 * 1024 * 1024 // 256)  # 16 MiB
    body_frames = -(-len(large) // (FRAME_MAX - 8))  # 129
    first.basic_publish("", "big", large)
    after_first_slice = len(frames_of(connection, start))
    second.basic_publish("", "small", b"one")
    first.basic_publish("", "big", b"after the large one, on its channel")  # waits behind it
    emitted = frames_of(connection, start)
    # The small publish went out at once, after one slice of the large message; the later
    # publish on the large message's channel did not.
    assert kinds(emitted[after_first_slice:], 2) == ["Basic.Publish", "header", "body"]
    assert kinds(emitted, 1).count("Basic.Publish") == 1
    assert connection.write_buffer_size > 0  # the rest of the message is pending
    # Each drain report hands out one more slice, until everything is out.
    drains = 0
    while kinds(frames_of(connection, start), 1).count("Basic.Publish") < 2:
        second.basic_publish("", "small", b"%d" % drains)
        connection.drain()
        drains += 1
        assert drains < 100
    assert drains == -(-len(large) // SLICE) - 1 or drains == -(-len(large) // SLICE)
    emitted = frames_of(connection, start)
    # Channel 1: the large message's frames unbroken, then the later publish.
    ones = kinds(emitted, 1)
    assert ones == ["Basic.Publish", "header"] + ["body"] * body_frames + [
        "Basic.Publish", "header", "body"]
    body = b"".join(bytes(f.fragment) for f in emitted
                    if isinstance(f, frame.Body) and f.channel_number == 1)
    assert body[: len(large)] == large
    # Channel 2's frames came between channel 1's body frames, whole, in order.
    positions = [i for i, f in enumerate(emitted) if f.channel_number == 2]
    last_big_body = max(i for i, f in enumerate(emitted)
                        if f.channel_number == 1 and isinstance(f, frame.Body)
                        and len(f.fragment) == FRAME_MAX - 8)
    assert sum(1 for p in positions if p < last_big_body) >= 3 * 3
    assert connection.write_buffer_size == 0


def test_two_large_messages_on_two_channels_share_the_link_a_frame_at_a_time() -> None:
    connection, broker, first, second = open_two_channels()
    start = len(connection.outbound)
    large = b"x" * (4 * 1024 * 1024)  # 33 body frames each
    first.basic_publish("", "a", large)
    second.basic_publish("", "b", large)
    for _ in range(20):
        connection.drain()
    emitted = frames_of(connection, start)
    channels = [f.channel_number for f in emitted if isinstance(f, frame.Body)]
    assert channels.count(1) == channels.count(2) == -(-len(large) // (FRAME_MAX - 8))
    # After the first message's first slice, the two alternate frame by frame.
    tail = channels[channels.index(2):]
    assert all(a != b for a, b in zip(tail[:40], tail[1:41]))


def test_close_sends_what_was_published_first_and_a_message_at_the_limit_is_not_paced() -> None:
    """``close()`` closes the channels first: the large message's channel sends its
    Channel.Close after the message's last frame (the lane keeps the order), the other channel
    at once; Connection.Close follows the Close-Oks, after every frame of the message."""
    connection, broker, first, _ = open_two_channels()
    start = len(connection.outbound)
    first.basic_publish("", "at-limit", b"y" * PACED_ABOVE)  # not paced: all at once
    assert connection.write_buffer_size == 0  # the harness reports nothing buffered
    first.basic_publish("", "big", b"z" * (8 * 1024 * 1024))
    connection.close()
    assert kinds(frames_of(connection, start), 2) == ["Channel.Close"]
    assert "Channel.Close" not in kinds(frames_of(connection, start), 1)
    while "Channel.Close" not in kinds(frames_of(connection, start), 1):
        connection.drain()
    ones = kinds(frames_of(connection, start), 1)
    assert ones[-1] == "Channel.Close" and ones.count("body") == 9 + 65
    broker.send(1, spec.Channel.CloseOk())
    broker.send(2, spec.Channel.CloseOk())
    emitted = frames_of(connection, start)
    assert isinstance(emitted[-1], frame.Method)
    assert emitted[-1].method.NAME == "Connection.Close"
    bodies = sum(len(f.fragment) for f in emitted
                 if isinstance(f, frame.Body) and f.channel_number == 1)
    assert bodies == PACED_ABOVE + 8 * 1024 * 1024


def test_a_broker_closed_channel_drops_the_rest_of_its_message_and_answers_at_once() -> None:
    connection, broker, first, second = open_two_channels()
    start = len(connection.outbound)
    first.basic_publish("", "big", b"w" * (16 * 1024 * 1024))
    broker.send(1, spec.Channel.Close(406, "PRECONDITION_FAILED", 60, 40))
    emitted = frames_of(connection, start)
    ones = kinds(emitted, 1)
    assert ones[-1] == "Channel.CloseOk" and ones.count("body") < 128
    assert connection.write_buffer_size == 0
    second.basic_publish("", "small", b"still fine")
    assert kinds(frames_of(connection, start), 2) == ["Basic.Publish", "header", "body"]


def test_a_lost_stream_forgets_pending_slices() -> None:
    connection, broker, first, _ = open_two_channels()
    first.basic_publish("", "big", b"v" * (16 * 1024 * 1024))
    assert connection.write_buffer_size > 0
    connection.lose_stream(ConnectionResetError("gone"))
    assert connection.write_buffer_size == 0
