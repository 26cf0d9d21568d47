"""Content pacing: a large message goes out a slice at a time, so other channels' frames pass it.

AMQP 0-9-1 (4.2.6) requires only that one message's content frames follow its method frame on
its channel with no other frame of THAT channel in between; frames of other channels may come
between any two frames. A 64 MiB publish emitted in one go puts 64 MiB in front of every frame
any other channel sends after it (a one-at-a-time confirmed publisher on another channel
waited 58-76 ms per message). Paced, the message's body frames are handed to the adapter
``SLICE`` bytes at a time, the next slice when the adapter reports its write buffer drained,
and whatever other channels send meanwhile is emitted at once, between slices.

:class:`ContentPacer` owns the pending frames: one lane per channel that has a paced message,
holding that message's remaining frames and then anything the channel sent after it (which
must wait: one channel's frames stay in order and a message's frames are never split by
another frame of its channel). Lanes take turns one frame at a time, so two large messages on
two channels share the link. It knows the frame layout of ``wire.encode_content_frames``'s
output and nothing else; it never decides what may be sent (``link.py`` does).

Must not: call user code, or touch a message that is not paced (the publish fast path never
reaches this module).
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Deque, Dict, List, Sequence, Tuple

#: Bodies larger than this are paced (a 1 MiB body, the benchmarks' pub1M, is not).
PACED_ABOVE = 1024 * 1024
#: Bytes handed to the adapter per slice: one at the publish, one per drain report.
SLICE = 1024 * 1024

_FRAME_END = b"\xce"

#: One frame (or a whole unit that must stay together), as the buffers to emit in order.
Unit = Tuple[Any, ...]


def content_units(chunks: Sequence[Any]) -> List[Unit]:
    """``encode_content_frames``'s ``[head, view, glue, view, ..., glue, view, frame_end]`` as
    one unit per body frame: the first carries the method and header frames too. A glue is the
    previous body frame's end octet plus the next one's header; it is split between them, so
    each unit is whole frames and another channel's frame may follow any unit."""
    units: List[Unit] = [(chunks[0], chunks[1], _FRAME_END)]
    for index in range(2, len(chunks) - 1, 2):
        units.append((chunks[index][1:], chunks[index + 1], _FRAME_END))
    return units


def unit_size(unit: Unit) -> int:
    return sum(len(part) for part in unit)


class ContentPacer:
    """The lanes of paced channels (see the module docstring). ``emit`` is the adapter's."""

    def __init__(self, emit: Callable[[Any], None]) -> None:
        self._emit = emit
        #: channel number -> its pending units, in order (dicts keep the turn order).
        self.lanes: Dict[int, Deque[Unit]] = {}
        #: Bytes in the lanes, not yet handed to the adapter.
        self.pending = 0

    def __contains__(self, channel_number: int) -> bool:
        return channel_number in self.lanes

    def add_content(self, channel_number: int, chunks: Sequence[Any]) -> None:
        """A large message: its frames join the channel's lane (opened if it has none)."""
        lane = self.lanes.get(channel_number)
        if lane is None:
            lane = self.lanes[channel_number] = collections.deque()
        units = content_units(chunks)
        lane.extend(units)
        self.pending += sum(unit_size(unit) for unit in units)

    def add_after(self, channel_number: int, unit: Unit) -> None:
        """Something the channel sent while its lane is open: it waits its turn in the lane."""
        self.lanes[channel_number].append(unit)
        self.pending += unit_size(unit)

    def pump(self, budget: int = SLICE) -> bool:
        """Hand about ``budget`` bytes to the adapter, one unit per lane per turn; empty lanes
        close. True if anything was emitted."""
        emit, lanes = self._emit, self.lanes
        sent = 0
        while lanes and sent < budget:
            for number in list(lanes):
                lane = lanes[number]
                unit = lane.popleft()
                for part in unit:
                    sent += len(part)
                    emit(part)
                if not lane:
                    del lanes[number]
        self.pending -= sent
        return sent > 0

    def flush(self) -> None:
        """Everything, now (before the client's Connection.Close: what was published before
        ``close()`` still goes out first, as without pacing)."""
        while self.lanes:
            self.pump(self.pending or 1)

    def drop(self, channel_number: int) -> None:
        """The channel is closing or gone: its pending frames are not sent."""
        lane = self.lanes.pop(channel_number, None)
        if lane is not None:
            self.pending -= sum(unit_size(unit) for unit in lane)

    def clear(self) -> None:
        self.lanes.clear()
        self.pending = 0


__all__ = ["PACED_ABOVE", "SLICE", "ContentPacer", "content_units"]
