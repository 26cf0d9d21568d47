"""The awaitable of a confirm-mode publish (``PublishFuture``, ``adapters/_awaitable``): an
``asyncio.Future`` whose done-callbacks for one ack frame run from ONE loop callback, keeping
asyncio's promises (never inside the settlement, later, in order, in the callback's context,
errors to the loop's exception handler) and working with what takes futures: ``await``, tasks
and their cancellation, ``gather``, ``wait_for``, ``shield``, ``ensure_future``, and Tornado's
``gen.coroutine``, ``IOLoop.add_future``, ``gen.with_timeout`` and ``gen.multi``.

Broker-free: the real ``FutureChannel`` over the unit harness's ``MemoryConnection`` (the
"broker" feeds frames through the real codec), on an asyncio loop wrapped by Tornado's
``AsyncIOLoop``, so both views of the one loop are tested. ``tests/twisted/test_awaitable.py``
has the same against the real broker.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import gc
import logging
from typing import Any, Dict, Iterator, List

import pytest
from tornado import gen
from tornado.platform.asyncio import AsyncIOLoop

from amqpbase import exceptions, spec
from amqpbase.adapters.asyncio import FutureChannel, PublishFuture, ReceivedMessage

from .harness import open_connection


class CountingLoop(asyncio.SelectorEventLoop):
    """An asyncio loop that counts ``call_soon`` (one per ``Handle`` made)."""

    def __init__(self) -> None:
        super().__init__()
        self.soon = 0

    def call_soon(self, *args: Any, **kwargs: Any) -> Any:
        self.soon += 1
        return super().call_soon(*args, **kwargs)


class Env:
    """A confirm-mode ``FutureChannel`` on a :class:`CountingLoop` (``io_loop``: Tornado's
    view of it) and the scripted broker."""

    def __init__(self) -> None:
        self.connection, self.broker = open_connection()
        self.impl = self.broker.open_channel(1)
        self.loop = CountingLoop()
        self.io_loop = AsyncIOLoop(asyncio_loop=self.loop)
        self.errors: List[Dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _loop, context: self.errors.append(context))
        self.channel = FutureChannel(self.impl, self.loop)
        confirming = self.channel.confirm_delivery()
        self.broker.send(1, spec.Confirm.SelectOk())
        self.loop.run_until_complete(confirming)

    def publish(self, routing_key: str = "q", mandatory: bool = False) -> Any:
        return self.channel.basic_publish("", routing_key, b"m", None, mandatory)

    def ack(self, tag: int, multiple: bool = False) -> None:
        self.broker.send(1, spec.Basic.Ack(tag, multiple))

    def turn(self) -> None:
        """Run the callbacks queued so far (one loop iteration)."""
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()


@pytest.fixture
def env() -> Iterator[Env]:
    environment = Env()
    yield environment
    environment.io_loop.close(all_fds=True)


def test_it_is_an_asyncio_future(env: Env) -> None:
    future = env.publish()
    assert type(future) is PublishFuture and isinstance(future, asyncio.Future)
    assert asyncio.isfuture(future) and asyncio.ensure_future(future) is future
    assert future.get_loop() is env.loop and not future.done()
    env.ack(1)
    ack = env.loop.run_until_complete(future)
    assert type(ack) is spec.Basic.Ack and ack.delivery_tag == 1


def test_one_loop_callback_runs_an_ack_frames_callbacks_in_order(env: Env) -> None:
    futures = [env.publish() for _ in range(5)]
    ran: List[Any] = []
    for index, future in enumerate(futures):
        future.add_done_callback(lambda f, i=index: ran.append((i, f.result().delivery_tag)))
    futures[2].add_done_callback(lambda f: ran.append("second on 2"))
    before = env.loop.soon
    env.ack(5, multiple=True)
    assert all(f.done() for f in futures)
    assert ran == []  # never inside the settlement
    assert env.loop.soon - before == 1  # one loop callback for the frame, not one per future
    env.turn()
    assert ran == [(0, 5), (1, 5), (2, 5), "second on 2", (3, 5), (4, 5)]


def test_each_ack_frame_keeps_its_place_among_other_loop_callbacks(env: Env) -> None:
    """Frames are batched apart: a plain future settled between two ack frames runs its
    callback between theirs, as if every future were a plain one."""
    first, second = env.publish(), env.publish()
    plain: "asyncio.Future[None]" = env.loop.create_future()
    ran: List[str] = []
    first.add_done_callback(lambda _f: ran.append("first"))
    plain.add_done_callback(lambda _f: ran.append("plain"))
    second.add_done_callback(lambda _f: ran.append("second"))
    env.ack(1)
    plain.set_result(None)
    env.ack(2)
    env.turn()
    assert ran == ["first", "plain", "second"]


def test_callbacks_run_in_their_context(env: Env) -> None:
    var: "contextvars.ContextVar[str]" = contextvars.ContextVar("var", default="unset")
    future, seen = env.publish(), []
    var.set("when added")
    future.add_done_callback(lambda _f: seen.append(var.get()))
    other = contextvars.copy_context()
    other.run(var.set, "explicit")
    future.add_done_callback(lambda _f: seen.append(var.get()), context=other)
    var.set("when settled")
    env.ack(1)
    env.turn()
    assert seen == ["when added", "explicit"]


def test_a_raising_callback_goes_to_the_exception_handler_and_the_rest_run(env: Env) -> None:
    first, second = env.publish(), env.publish()
    ran: List[str] = []

    def bad(_future: Any) -> None:
        raise ValueError("user bug")

    first.add_done_callback(bad)
    first.add_done_callback(lambda _f: ran.append("after bad"))
    second.add_done_callback(lambda _f: ran.append("second"))
    env.ack(2, multiple=True)
    env.turn()
    assert ran == ["after bad", "second"]
    (error,) = env.errors
    assert type(error["exception"]) is ValueError and error["future"] is first


def test_remove_done_callback_before_and_after_done(env: Env) -> None:
    future, ran = env.publish(), []

    def one(_future: Any) -> None:
        ran.append("one")

    def two(_future: Any) -> None:
        ran.append("two")

    future.add_done_callback(one)
    future.add_done_callback(two)
    future.add_done_callback(one)
    assert future.remove_done_callback(one) == 2  # every registration of it, as asyncio
    assert future.remove_done_callback(one) == 0
    future.add_done_callback(one)
    env.ack(1)
    assert future.remove_done_callback(two) == 0  # done: already scheduled, as asyncio
    env.turn()
    assert ran == ["two", "one"]


def test_a_callback_added_when_done_runs_later(env: Env) -> None:
    future, ran = env.publish(), []
    env.ack(1)
    future.add_done_callback(lambda _f: ran.append("late"))
    assert ran == []
    env.turn()
    assert ran == ["late"]


def test_tasks_gather_wait_for_and_shield(env: Env) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        futures = [env.publish() for _ in range(3)]
        loop.call_soon(env.ack, 3, True)
        acks = await asyncio.gather(*futures)
        assert [a.delivery_tag for a in acks] == [3, 3, 3]

        timed_out = env.publish()  # tag 4
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(timed_out, 0.01)
        assert timed_out.cancelled()  # only detached: the engine keeps tag 4

        shielded = env.publish()  # tag 5
        outer = asyncio.shield(shielded)
        outer.cancel()
        waiter = asyncio.ensure_future(asyncio.wait_for(env.publish(), 5))  # tag 6
        await asyncio.sleep(0)
        loop.call_soon(env.ack, 6, True)
        assert (await shielded).delivery_tag == 6 and (await waiter).delivery_tag == 6
        assert outer.cancelled() and timed_out.cancelled()

    env.loop.run_until_complete(main())
    assert env.errors == [] and env.impl.is_open


def test_cancelling_a_task_awaiting_a_publish_never_corrupts_the_channel(env: Env) -> None:
    async def waits(future: Any) -> Any:
        return await future

    async def main() -> None:
        future = env.publish()  # tag 1
        task = asyncio.ensure_future(waits(future))
        await asyncio.sleep(0)  # the task waits on the future
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert future.cancelled()
        later = env.publish()  # tag 2
        asyncio.get_running_loop().call_soon(env.ack, 1)  # the cancelled one's ack
        asyncio.get_running_loop().call_soon(env.ack, 2)
        assert (await later).delivery_tag == 2

    env.loop.run_until_complete(main())
    assert env.errors == [] and env.impl.is_open


def test_nack_return_and_close_outcomes(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    nacked, returned, routed = env.publish(), env.publish("nowhere", True), env.publish()
    forgotten, closing = env.publish(), env.publish()
    env.broker.send(1, spec.Basic.Nack(1, False, False))
    env.broker.send_content(1, spec.Basic.Return(312, "NO_ROUTE", "", "nowhere"),
                            spec.BasicProperties(), b"m")
    env.ack(3, multiple=True)
    env.broker.send(1, spec.Channel.Close(406, "PRECONDITION_FAILED", 60, 40))
    env.turn()
    with pytest.raises(exceptions.NackError) as nack:
        env.loop.run_until_complete(nacked)
    assert nack.value.messages == [1]
    with pytest.raises(exceptions.UnroutableError) as unroutable:
        env.loop.run_until_complete(returned)
    (message,) = unroutable.value.messages
    assert type(message) is ReceivedMessage and message.channel is env.channel
    assert message.method.routing_key == "nowhere"
    assert env.loop.run_until_complete(routed).delivery_tag == 3
    with pytest.raises(exceptions.ChannelClosedByBroker):
        env.loop.run_until_complete(closing)
    # An outcome nobody asked for logs nothing ("Future exception was never retrieved").
    assert type(forgotten.exception()) is exceptions.ChannelClosedByBroker
    del forgotten, closing, nacked, returned
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        gc.collect()
    assert "never retrieved" not in caplog.text and env.errors == []


def test_tornado_takes_it_as_a_future(env: Env) -> None:
    io_loop = env.io_loop
    added: List[Any] = []

    @gen.coroutine  # type: ignore[misc]
    def yields() -> Any:
        first = env.publish()  # tag 1
        io_loop.add_future(first, added.append)
        io_loop.add_callback(env.ack, 1)
        ack = yield first
        pair = [env.publish(), env.publish()]  # tags 2, 3
        io_loop.add_callback(env.ack, 3, True)
        acks = yield gen.multi(pair)
        timed = env.publish()  # tag 4
        io_loop.add_callback(env.ack, 4)
        last = yield gen.with_timeout(datetime.timedelta(seconds=5), timed)
        return [ack.delivery_tag] + [a.delivery_tag for a in acks] + [last.delivery_tag]

    assert io_loop.run_sync(yields) == [1, 3, 3, 4]
    assert len(added) == 1 and added[0].result().delivery_tag == 1
    assert env.errors == []
