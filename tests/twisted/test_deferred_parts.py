"""The broker-free parts of the Deferred API: the outcome holder behind ``ready``/``closed``
and ClosableDeferredQueue (plain Deferreds, nothing to connect to)."""

from __future__ import annotations

from typing import Any, List

import pytest
from twisted.internet import defer

from amqpbase.adapters.twisted import ClosableDeferredQueue
from amqpbase.adapters.twisted._deferred_tools import Outcome


def result_of(deferred: "defer.Deferred[Any]") -> Any:
    """The result of an already-fired Deferred (its failure's exception for a failure)."""
    results: List[Any] = []
    deferred.addBoth(results.append)
    assert results, "the Deferred has not fired"
    result = results[0]
    return result.value if hasattr(result, "value") and hasattr(result, "trap") else result


def test_outcome_gives_every_consumer_the_value_before_and_after_it_settles() -> None:
    outcome: Outcome[str] = Outcome()
    early = outcome.deferred()
    early.addCallback(lambda _value: None)  # a callback eating the result on ONE Deferred
    assert not early.called and not outcome.settled
    outcome.succeed("value")
    assert outcome.settled and early.called
    assert result_of(outcome.deferred()) == "value"
    assert result_of(outcome.deferred()) == "value"
    outcome.succeed("ignored")  # the first outcome wins
    outcome.fail(ValueError("ignored"))
    assert result_of(outcome.deferred()) == "value"


def test_outcome_failure_is_handed_to_each_consumer() -> None:
    outcome: Outcome[str] = Outcome()
    waiting = outcome.deferred()
    error = ValueError("boom")
    outcome.fail(error)
    assert result_of(waiting) is error
    assert result_of(outcome.deferred()) is error


def test_cancelling_one_consumer_leaves_the_others() -> None:
    outcome: Outcome[int] = Outcome()
    first, second = outcome.deferred(), outcome.deferred()
    first.cancel()
    assert isinstance(result_of(first), defer.CancelledError)
    outcome.succeed(7)
    assert result_of(second) == 7


def test_queue_close_fails_waiting_gets_and_later_gets() -> None:
    queue: ClosableDeferredQueue[str] = ClosableDeferredQueue()
    waiting = [queue.get(), queue.get()]
    reason = RuntimeError("closed")
    queue.close(reason)
    assert queue.closed is reason
    assert [result_of(deferred) for deferred in waiting] == [reason, reason]
    assert result_of(queue.get()) is reason
    with pytest.raises(RuntimeError):
        queue.put("late")
    queue.close(ValueError("second close"))  # ignored: the first reason stays
    assert queue.closed is reason


def test_queue_close_discards_buffered_items_by_default() -> None:
    queue: ClosableDeferredQueue[str] = ClosableDeferredQueue()
    queue.put("a")
    reason = RuntimeError("closed")
    queue.close(reason)
    assert result_of(queue.get()) is reason


def test_queue_close_can_keep_buffered_items_until_drained() -> None:
    queue: ClosableDeferredQueue[str] = ClosableDeferredQueue()
    queue.put("a")
    queue.put("b")
    reason = RuntimeError("cancelled")
    queue.close(reason, discard_pending=False)
    assert [result_of(queue.get()), result_of(queue.get())] == ["a", "b"]
    assert result_of(queue.get()) is reason


def test_a_callback_cancelling_another_waiter_during_close_is_safe() -> None:
    queue: ClosableDeferredQueue[str] = ClosableDeferredQueue()
    first, second = queue.get(), queue.get()
    first.addErrback(lambda _failure: second.cancel())
    queue.close(RuntimeError("closed"))
    assert isinstance(result_of(second), defer.CancelledError)
    assert queue.waiting == []


def test_queue_get_cancel_then_put() -> None:
    queue: ClosableDeferredQueue[str] = ClosableDeferredQueue()
    abandoned = queue.get()
    abandoned.cancel()
    assert isinstance(result_of(abandoned), defer.CancelledError)
    queue.put("item")
    assert result_of(queue.get()) == "item"
