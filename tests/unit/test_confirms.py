"""Publisher-confirm settlement (``amqpbase.protocol.confirms.ConfirmTracker``) against a
plain set model: any order of publishes and of the broker's Basic.Ack/Nack, single or
``multiple`` (RabbitMQ), tag 0 with ``multiple`` ("all outstanding", AMQP 0-9-1 basic.ack),
and tags the broker should not have sent (logged, ignored). The channel-level tests
(tests/unit/test_channel.py) drive the same tracker through the facade.
"""

from __future__ import annotations

import logging
from typing import List, Set, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amqpbase.protocol.confirms import ConfirmTracker

#: ("publish", 0, False) or ("settle", tag, multiple); tags may exceed what was published.
STEPS = st.lists(
    st.one_of(
        st.just(("publish", 0, False)),
        st.tuples(st.just("settle"), st.integers(0, 40), st.booleans()),
    ),
    max_size=80,
)


@given(STEPS)
def test_the_tracker_matches_a_set_model(steps: List[Tuple[str, int, bool]]) -> None:
    tracker, published = ConfirmTracker(), 0
    settled: Set[int] = set()
    for kind, tag, multiple in steps:
        if kind == "publish":
            published += 1
        else:
            tracker.settle(tag, multiple, published)
            if multiple and tag == 0:
                tag = published
            if 1 <= tag <= published:  # anything else is ignored for bookkeeping
                settled.update(range(1, tag + 1) if multiple else [tag])
        assert tracker.unsettled(published) == [
            t for t in range(1, published + 1) if t not in settled
        ]
    tracker.settle_all(published)
    assert tracker.unsettled(published) == []
    tracker.settle(published + 1, False, published + 1)  # numbering goes on after settle_all
    assert tracker.unsettled(published + 2) == [published + 2]


def test_out_of_order_acks_close_the_gap_when_it_fills() -> None:
    tracker = ConfirmTracker()
    for tag in (3, 5, 2):
        tracker.settle(tag, False, 6)
    assert (tracker.floor, tracker.above) == (0, {2, 3, 5})
    tracker.settle(1, False, 6)
    assert (tracker.floor, tracker.above) == (3, {5})
    assert tracker.unsettled(6) == [4, 6]
    tracker.settle(4, True, 6)  # multiple: everything up to 4
    assert (tracker.floor, tracker.above) == (4, {5})
    assert tracker.unsettled(6) == [6]


@pytest.mark.parametrize("tag, multiple", [(4, False), (4, True), (0, False)])
def test_a_tag_never_published_is_logged_and_ignored(
    caplog: pytest.LogCaptureFixture, tag: int, multiple: bool
) -> None:
    tracker = ConfirmTracker()
    with caplog.at_level(logging.WARNING, logger="amqpbase.channel"):
        tracker.settle(tag, multiple, 3)
    assert tracker.unsettled(3) == [1, 2, 3]
    assert [r.getMessage() for r in caplog.records] == [
        f"Broker settled delivery tag {tag} but only 3 were published; ignored for bookkeeping"
    ]


def test_multiple_with_tag_zero_settles_everything_outstanding() -> None:
    tracker = ConfirmTracker()
    tracker.settle(2, False, 5)
    tracker.settle(0, True, 5)
    assert tracker.unsettled(5) == [] and tracker.unsettled(7) == [6, 7]
