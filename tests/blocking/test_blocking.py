"""BlockingConnection and BlockingChannel against the real broker: pika 1.x semantics (issue
14), heartbeats serviced while user code runs, errors raised on the calling thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, List, Tuple

import pytest

import amqpbase
from amqpbase import BasicProperties, ConnectionParameters, URLParameters, exceptions
from amqpbase.adapters.blocking import BlockingChannel, BlockingConnection, ReturnedMessage

from .conftest import unique


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refused(**kwargs: Any) -> ConnectionParameters:
    return ConnectionParameters(host="127.0.0.1", port=free_port(), connection_attempts=1,
                                **kwargs)


# ---------------------------------------------------------------- the connection


def test_exported_lazily_from_amqpbase() -> None:
    assert amqpbase.BlockingConnection is BlockingConnection


def test_open_close_and_second_close(params: URLParameters) -> None:
    connection = BlockingConnection(params)
    assert connection.is_open and not connection.is_closed
    assert connection.basic_nack_supported and connection.publisher_confirms_supported
    assert connection.consumer_cancel_notify_supported
    assert connection.exchange_exchange_bindings_supported
    assert connection.publisher_confirms is True  # pika's legacy name
    connection.close()
    assert connection.is_closed and not connection.is_open
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.close()
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.channel()


def test_refused_broker_raises_the_precise_error() -> None:
    with pytest.raises(exceptions.TCPConnectionRefusedError) as caught:
        BlockingConnection(refused())
    assert isinstance(caught.value, exceptions.AMQPConnectionError)


def test_sequence_of_parameters_tried_in_order(params: URLParameters) -> None:
    with BlockingConnection([refused(), params]) as connection:
        assert connection.is_open
    assert connection.is_closed
    with pytest.raises(ValueError):
        BlockingConnection([])


def test_wrong_credentials_raise_probable_authentication_error(broker: Any) -> None:
    bad = URLParameters(broker.url.replace("guest:guest", "guest:wrong"))
    with pytest.raises(exceptions.ProbableAuthenticationError):
        BlockingConnection(bad)


def test_context_manager_lets_exceptions_through_and_closes(params: URLParameters) -> None:
    with pytest.raises(ZeroDivisionError):
        with BlockingConnection(params) as connection:
            raise ZeroDivisionError("body fails")
    assert connection.is_closed
    with pytest.raises(SystemExit):
        with BlockingConnection(params) as connection:
            raise SystemExit(3)
    assert connection.is_closed


def test_process_data_events_time_limits(connection: BlockingConnection) -> None:
    start = time.monotonic()
    connection.process_data_events()  # 0: returns at once
    connection.process_data_events(0)
    assert time.monotonic() - start < 0.2
    start = time.monotonic()
    connection.process_data_events(0.3)
    assert 0.28 <= time.monotonic() - start < 1.0
    # None: waits until there is something to dispatch (a callback from another thread)
    ran: List[str] = []
    timer = threading.Timer(0.2, connection.add_callback_threadsafe, (lambda: ran.append("x"),))
    timer.start()
    start = time.monotonic()
    connection.process_data_events(None)
    assert ran == ["x"]
    assert 0.15 <= time.monotonic() - start < 2.0
    timer.join()


def test_callbacks_run_only_inside_process_data_events(connection: BlockingConnection) -> None:
    ran: List[str] = []
    connection.add_callback_threadsafe(lambda: ran.append("threadsafe"))
    connection.call_later(0, lambda: ran.append("timer"))
    time.sleep(0.05)
    assert ran == []
    connection.process_data_events(0.5)
    assert sorted(ran) == ["threadsafe", "timer"]


def test_add_callback_threadsafe_from_many_threads(connection: BlockingConnection) -> None:
    ran: List[int] = []
    threads = [
        threading.Thread(target=connection.add_callback_threadsafe,
                         args=(lambda i=i: ran.append(i),))
        for i in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deadline = time.monotonic() + 5
    while len(ran) < 20 and time.monotonic() < deadline:
        connection.process_data_events(0.1)
    assert sorted(ran) == list(range(20))


def test_add_callback_threadsafe_on_closed_connection(params: URLParameters) -> None:
    connection = BlockingConnection(params)
    connection.close()
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.add_callback_threadsafe(lambda: None)


def test_call_later_and_remove_timeout_inside_a_timer(connection: BlockingConnection) -> None:
    ran: List[str] = []
    doomed = connection.call_later(0.2, lambda: ran.append("doomed"))

    def first() -> None:
        ran.append("first")
        connection.remove_timeout(doomed)
        connection.call_later(0.05, lambda: ran.append("second"))

    connection.call_later(0.05, first)
    connection.sleep(0.4)
    assert ran == ["first", "second"]
    connection.remove_timeout(doomed)  # twice: a no-op


def test_timer_rearming_itself_with_zero_delay_does_not_spin(
        connection: BlockingConnection) -> None:
    count: List[int] = []

    def again() -> None:
        count.append(1)
        connection.call_later(0, again)

    connection.call_later(0, again)
    connection.process_data_events(0)
    assert len(count) == 1


def test_update_secret(connection: BlockingConnection, broker: Any) -> None:
    connection.update_secret("guest", "rotation")  # returns on UpdateSecretOk
    assert connection.is_open


def test_connection_closed_by_broker(broker: Any) -> None:
    name = unique("blocking-close")
    params = URLParameters(broker.url)
    params.client_properties = {"connection_name": name}
    connection = BlockingConnection(params)
    channel = connection.channel()
    broker.ctl("close_connection", broker.connection_pid(name), "test says bye")
    with pytest.raises(exceptions.ConnectionClosedByBroker) as caught:
        connection.sleep(5)
    assert caught.value.reply_code == 320
    assert connection.is_closed
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.process_data_events()
    with pytest.raises(exceptions.ConnectionWrongStateError):
        channel.basic_publish("", "x", b"x")
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.close()


# ---------------------------------------------------------------- the channel: RPCs


def test_rpcs_return_the_reply_frames(channel: BlockingChannel) -> None:
    exchange, source, queue = unique("ex"), unique("src"), unique("q")
    ok = channel.exchange_declare(exchange, "fanout", auto_delete=True)
    assert isinstance(ok.method, amqpbase.spec.Exchange.DeclareOk)
    channel.exchange_declare(source, "topic", auto_delete=True)
    assert isinstance(channel.exchange_bind(exchange, source, "a.#").method,
                      amqpbase.spec.Exchange.BindOk)
    assert isinstance(channel.exchange_unbind(exchange, source, "a.#").method,
                      amqpbase.spec.Exchange.UnbindOk)
    declared = channel.queue_declare(queue, auto_delete=True)
    assert declared.method.queue == queue and declared.method.message_count == 0
    assert isinstance(channel.queue_bind(queue, exchange).method, amqpbase.spec.Queue.BindOk)
    channel.basic_publish(exchange, "", b"one")
    assert channel.queue_purge(queue).method.message_count == 1
    assert isinstance(channel.queue_unbind(queue, exchange).method, amqpbase.spec.Queue.UnbindOk)
    assert isinstance(channel.queue_delete(queue).method, amqpbase.spec.Queue.DeleteOk)
    assert isinstance(channel.exchange_delete(exchange).method, amqpbase.spec.Exchange.DeleteOk)
    channel.exchange_delete(source)
    assert channel.basic_qos(prefetch_count=10) is None
    assert channel.basic_recover(requeue=True) is None
    assert channel.flow(True) is True
    assert isinstance(channel.tx_select().method, amqpbase.spec.Tx.SelectOk)
    assert isinstance(channel.tx_commit().method, amqpbase.spec.Tx.CommitOk)
    assert isinstance(channel.tx_rollback().method, amqpbase.spec.Tx.RollbackOk)


def test_basic_get(channel: BlockingChannel, queue: str) -> None:
    assert channel.basic_get(queue) == (None, None, None)
    channel.basic_publish("", queue, b"body", BasicProperties(content_type="text/plain"))
    method, properties, body = channel.basic_get(queue, auto_ack=True)
    assert isinstance(method, amqpbase.spec.Basic.GetOk)
    assert properties.content_type == "text/plain" and body == b"body"


def test_channel_closed_by_broker(channel: BlockingChannel) -> None:
    with pytest.raises(exceptions.ChannelClosedByBroker) as caught:
        channel.queue_declare(unique("missing"), passive=True)
    assert caught.value.reply_code == 404
    assert channel.is_closed
    with pytest.raises(exceptions.ChannelWrongStateError):
        channel.queue_declare("", exclusive=True)
    assert channel.connection.is_open


def test_publish_to_missing_exchange_raises_on_the_next_call(channel: BlockingChannel) -> None:
    channel.basic_publish(unique("missing"), "", b"x")  # returns: nothing waits for it
    with pytest.raises(exceptions.ChannelClosedByBroker) as caught:
        channel.queue_declare("", exclusive=True)
    assert caught.value.reply_code == 404


def test_publish_argument_errors_on_the_calling_thread(channel: BlockingChannel) -> None:
    with pytest.raises(TypeError):
        channel.basic_publish(1, "", b"x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        channel.basic_publish("", "", 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        channel.basic_publish("", "", b"x", properties={"x": 1})  # type: ignore[arg-type]


def test_publish_error_on_the_io_thread_raised_by_the_next_call(
        channel: BlockingChannel, queue: str) -> None:
    channel.basic_publish("", queue, b"x", BasicProperties(headers={"bad": object()}))
    with pytest.raises(Exception) as caught:
        channel.queue_declare(queue, passive=True)
    assert "bad" in str(caught.value) or isinstance(caught.value, (TypeError, ValueError))
    assert channel.queue_declare(queue, passive=True).method.message_count == 0


def test_bytearray_body_is_copied(channel: BlockingChannel, queue: str) -> None:
    body = bytearray(b"original")
    channel.basic_publish("", queue, body)
    body[:] = b"mutated!"
    assert channel.basic_get(queue, auto_ack=True)[2] == b"original"


def test_channel_context_manager(connection: BlockingConnection) -> None:
    with connection.channel() as channel:
        assert channel.is_open
    assert channel.is_closed
    with pytest.raises(exceptions.ChannelWrongStateError):
        channel.close()


# ---------------------------------------------------------------- confirms and returns


def test_confirm_delivery_unroutable_and_nack(channel: BlockingChannel) -> None:
    channel.confirm_delivery()
    channel.confirm_delivery()  # again: logged, nothing else
    queue = unique("reject")
    channel.queue_declare(queue, auto_delete=True,
                          arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
    channel.basic_publish("", unique("nowhere"), b"lost")  # not mandatory: acked
    with pytest.raises(exceptions.UnroutableError) as unroutable:
        channel.basic_publish("", unique("nowhere"), b"back", mandatory=True)
    (returned,) = unroutable.value.messages
    assert isinstance(returned, ReturnedMessage)
    assert returned.body == b"back" and returned.method.reply_code == 312
    with pytest.raises(exceptions.NackError) as nacked:
        channel.basic_publish("", queue, b"rejected")
    assert nacked.value.messages == []
    channel.queue_delete(queue)


def test_return_callback_outside_confirm_mode(connection: BlockingConnection,
                                              channel: BlockingChannel) -> None:
    returned: List[Tuple[Any, ...]] = []
    channel.add_on_return_callback(lambda *args: returned.append(args))
    channel.basic_publish("", unique("nowhere"), b"back", mandatory=True)
    deadline = time.monotonic() + 5
    while not returned and time.monotonic() < deadline:
        connection.process_data_events(0.1)
    ((ch, method, _properties, body),) = returned
    assert ch is channel and body == b"back" and method.reply_text == "NO_ROUTE"


# ---------------------------------------------------------------- consumers


def test_basic_consume_start_and_stop_consuming(channel: BlockingChannel, queue: str) -> None:
    for i in range(5):
        channel.basic_publish("", queue, f"m{i}")
    got: List[bytes] = []

    def on_message(ch: BlockingChannel, method: Any, properties: Any, body: bytes) -> None:
        got.append(body)
        ch.basic_ack(method.delivery_tag)
        if len(got) == 3:
            ch.stop_consuming()

    tag = channel.basic_consume(queue, on_message)
    assert channel.consumer_tags == [tag]
    channel.start_consuming()
    assert got == [b"m0", b"m1", b"m2"]
    assert channel.consumer_tags == []
    # the two delivered but not dispatched were rejected with requeue (not auto_ack)
    again = []
    for method, _properties, body in channel.consume(queue, inactivity_timeout=5):
        assert method is not None, again
        again.append((body, method.redelivered))
        if len(again) == 2:
            break
    assert sorted(again) == [(b"m3", True), (b"m4", True)]
    channel.cancel()
    with pytest.raises(exceptions.DuplicateConsumerTag):
        channel.basic_consume(queue, on_message, consumer_tag="dup")
        channel.basic_consume(queue, on_message, consumer_tag="dup")


def test_basic_cancel_returns_pending_auto_ack_messages(channel: BlockingChannel,
                                                       queue: str) -> None:
    for i in range(10):
        channel.basic_publish("", queue, f"m{i}")
    tag = channel.basic_consume(queue, lambda *args: None, auto_ack=True)
    # A blocking RPC lets the deliveries arrive without dispatching them.
    channel.queue_declare(queue, passive=True)
    time.sleep(0.2)
    pending = channel.basic_cancel(tag)
    assert [body for _m, _p, body in pending] == [f"m{i}".encode() for i in range(10)]
    assert all(isinstance(m, amqpbase.spec.Basic.Deliver) for m, _p, _b in pending)
    assert channel.basic_cancel(tag) == []  # unknown now: logged, empty


def test_start_consuming_inside_a_callback_is_refused(connection: BlockingConnection,
                                                      channel: BlockingChannel) -> None:
    errors: List[BaseException] = []

    def nested() -> None:
        try:
            channel.start_consuming()
        except exceptions.ReentrancyError as exc:
            errors.append(exc)

    connection.call_later(0, nested)
    connection.process_data_events(0.2)
    assert len(errors) == 1


def test_consume_generator_inactivity_and_cancel(channel: BlockingChannel, queue: str) -> None:
    channel.basic_publish("", queue, b"one")
    channel.basic_publish("", queue, b"two")
    seen: List[Any] = []
    start = time.monotonic()
    for method, _properties, body in channel.consume(queue, inactivity_timeout=0.3):
        if method is None:
            break
        seen.append(body)
        channel.basic_ack(method.delivery_tag)
    assert seen == [b"one", b"two"]
    assert time.monotonic() - start >= 0.3
    assert channel.cancel() == 0
    assert channel.consumer_tags == []
    assert channel.cancel() == 0  # inactive: logged


def test_consume_generator_requeues_pending_on_cancel(channel: BlockingChannel,
                                                      queue: str) -> None:
    for i in range(5):
        channel.basic_publish("", queue, f"m{i}")
    generator = channel.consume(queue)
    method, _properties, body = next(generator)
    assert body == b"m0"
    channel.basic_ack(method.delivery_tag)
    with pytest.raises(ValueError):
        next(channel.consume(queue, auto_ack=True))
    channel.cancel()
    # the four pending ones were rejected with requeue: a new consumer gets them again
    again = []
    for method, _properties, body in channel.consume(queue, inactivity_timeout=5):
        assert method is not None, again
        again.append(body)
        if len(again) == 4:
            break
    assert sorted(again) == [b"m1", b"m2", b"m3", b"m4"]


def test_broker_cancel_ends_generator_and_calls_cancel_callback(
        connection: BlockingConnection, channel: BlockingChannel) -> None:
    queue = unique("doomed")
    channel.queue_declare(queue)
    cancelled: List[Any] = []
    channel.add_on_cancel_callback(cancelled.append)
    other = connection.channel()
    results = []
    for message in channel.consume(queue, inactivity_timeout=0.1):
        results.append(message)
        if len(results) == 1:
            other.queue_delete(queue)
        if len(results) > 50:
            break
    assert len(results) < 50
    assert [frame.method.consumer_tag for frame in cancelled] != []
    assert channel.consumer_tags == []


def test_exception_in_on_message_propagates_and_connection_stays(
        channel: BlockingChannel, queue: str) -> None:
    channel.basic_publish("", queue, b"boom")

    def on_message(*_args: Any) -> None:
        raise RuntimeError("user bug")

    channel.basic_consume(queue, on_message, auto_ack=True)
    with pytest.raises(RuntimeError, match="user bug"):
        channel.start_consuming()
    assert channel.is_open and channel.connection.is_open


def test_ack_from_another_thread_through_add_callback_threadsafe(
        connection: BlockingConnection, channel: BlockingChannel, queue: str) -> None:
    channel.basic_publish("", queue, b"work")
    done = threading.Event()

    def on_message(ch: BlockingChannel, method: Any, _p: Any, _b: bytes) -> None:
        def work() -> None:
            connection.add_callback_threadsafe(lambda: (ch.basic_ack(method.delivery_tag),
                                                        ch.stop_consuming()))
            done.set()
        threading.Thread(target=work).start()

    channel.basic_consume(queue, on_message)
    channel.start_consuming()
    assert done.is_set()
    assert channel.queue_declare(queue, passive=True).method.message_count == 0


# ---------------------------------------------------------------- heartbeats and flow


def test_heartbeats_serviced_while_on_message_sleeps(broker: Any) -> None:
    """The measured claim: heartbeat 2 s, a callback that sleeps 6 s (3 x the interval): the
    broker keeps the connection (it closes after 2 missed intervals) and the next message
    arrives."""
    params = URLParameters(broker.url)
    params.heartbeat = 2
    with BlockingConnection(params) as connection:
        channel = connection.channel()
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.basic_publish("", queue, b"slow")
        channel.basic_publish("", queue, b"next")
        got: List[bytes] = []
        slept: List[float] = []

        def on_message(ch: BlockingChannel, method: Any, _p: Any, body: bytes) -> None:
            got.append(body)
            if body == b"slow":
                start = time.monotonic()
                time.sleep(6)
                slept.append(time.monotonic() - start)
            ch.basic_ack(method.delivery_tag)
            if len(got) == 2:
                ch.stop_consuming()

        channel.basic_qos(prefetch_count=1)
        channel.basic_consume(queue, on_message)
        channel.start_consuming()
        assert got == [b"slow", b"next"] and slept[0] >= 6
        assert connection.is_open and channel.is_open


def test_blocked_unblocked_callbacks_and_blocked_connection_timeout(
        broker: Any, params: URLParameters) -> None:
    params.blocked_connection_timeout = 1.0
    events: List[str] = []
    connection = BlockingConnection(params)
    connection.add_on_connection_blocked_callback(
        lambda conn, frame: events.append(f"blocked:{type(frame.method).__name__}"))
    connection.add_on_connection_unblocked_callback(lambda conn, frame: events.append("unblocked"))
    channel = connection.channel()
    broker.ctl("set_vm_memory_high_watermark", "absolute", "1")
    try:
        channel.basic_publish("", "x", b"x")  # RabbitMQ blocks a connection once it publishes
        with pytest.raises(exceptions.ConnectionBlockedTimeout):
            connection.sleep(10)
    finally:
        broker.ctl("set_vm_memory_high_watermark", "0.4")
    assert events == ["blocked:Blocked"]
    assert connection.is_closed
