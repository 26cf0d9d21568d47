"""The load tool end to end against the session's broker: a short run per flavour whose JSON
numbers must add up, the rate limit, a stream queue, a fanout of connections over several
URIs, returns, the check catching messages a max-length queue dropped, and a clean stop on
SIGTERM/SIGINT on every kind of loop (the declared queue is deleted)."""

from __future__ import annotations

import signal
import uuid
from typing import Any, Callable, Dict

import pytest

from amqpbase import URLParameters
from amqpbase.adapters.blocking import BlockingConnection
from amqpbase.exceptions import ChannelClosedByBroker

from .conftest import Outcome, signal_run

FLAVOURS = [
    ("select", "callback"), ("asyncio", "callback"), ("tornado", "callback"),
    ("twisted", "callback"), ("asyncio", "awaitable"), ("tornado", "awaitable"),
    ("twisted", "deferred"), ("blocking", "blocking"),
]


def assert_adds_up(result: Dict[str, Any], published: int, confirm: bool = True) -> None:
    totals = result["totals"]
    assert totals["published"] == published
    if confirm:
        assert totals["confirmed"] == published
    assert totals["nacked"] == totals["returned"] == totals["unconfirmed"] == 0
    assert totals["received"] == totals["unique"] == published
    assert totals["duplicates"] == totals["gaps"] == totals["foreign"] == 0
    assert totals["left_in_queue"] == 0
    assert result["latency_ms"]["samples"] == published
    assert 0 <= result["latency_ms"]["min"] <= result["latency_ms"]["median"] \
        <= result["latency_ms"]["p99"] <= result["latency_ms"]["max"]
    assert result["checks"] == {"ok": True, "problems": []}
    assert result["errors"] == []


@pytest.mark.parametrize("loop, api", FLAVOURS, ids=[f"{lp}-{a}" for lp, a in FLAVOURS])
def test_a_short_run_adds_up(perf: Callable[..., Outcome], queue_exists: Callable[[str], bool],
                             loop: str, api: str) -> None:
    # The blocking API confirms one publish at a time (one round trip each): fewer messages.
    count, window = (300, "1") if api == "blocking" else (1500, "100")
    outcome = perf("--loop", loop, "--api", api, "-C", str(count), "-c", window, "-q", "200",
                   "-A", "10", "--json")
    assert outcome.code == 0, outcome.stderr
    result = outcome.result
    assert result is not None
    assert result["flavour"] == {"loop": loop, "api": api}
    assert result["stopped_by"] == "count"
    assert_adds_up(result, count)
    assert result["cleanup"]["deleted_queue"] is True
    assert not queue_exists(result["queue"])
    assert "check: OK, the counts add up" in outcome.stderr


def test_several_producers_and_consumers_over_two_uris(
        perf: Callable[..., Outcome], url: str) -> None:
    other = url.replace("127.0.0.1", "localhost")
    outcome = perf("-H", f"{url},{other}", "-x", "2", "-y", "3", "-C", "1000", "-c", "50",
                   "-f", "persistent", "--json")
    assert outcome.code == 0, outcome.stderr
    assert outcome.result is not None
    uris = outcome.result["options"]["uris"]  # --uri (the fixture's) and the two of -H
    assert len(uris) == 3 and all(":***@" in uri and "guest@" not in uri for uri in uris)
    assert_adds_up(outcome.result, 2000)


@pytest.mark.parametrize("api", ["callback", "awaitable"])
def test_rate_limit_holds(perf: Callable[..., Outcome], api: str) -> None:
    outcome = perf("--api", api, "-r", "250", "-z", "2", "-y", "0", "--json")
    assert outcome.code == 0, outcome.stderr
    assert outcome.result is not None
    published = outcome.result["totals"]["published"]
    rate = published / outcome.result["duration_s"]
    assert 250 * 0.85 <= rate <= 250 * 1.1, (published, outcome.result["duration_s"])
    assert outcome.result["stopped_by"] == "time"


def test_stream_queue(perf: Callable[..., Outcome], queue_exists: Callable[[str], bool]) -> None:
    outcome = perf("--queue-type", "stream", "-q", "100", "-C", "1000", "-c", "100", "--json")
    assert outcome.code == 0, outcome.stderr
    result = outcome.result
    assert result is not None
    assert result["options"]["stream_offset"] == "next"
    assert result["options"]["queue_args"] == {"x-queue-type": "stream"}
    totals = result["totals"]
    assert totals["published"] == totals["confirmed"] == totals["received"] == 1000
    assert totals["unique"] == 1000 and totals["duplicates"] == totals["gaps"] == 0
    assert totals["left_in_queue"] is None  # a stream keeps what was consumed
    assert result["checks"]["ok"] is True
    assert not queue_exists(result["queue"])


def test_mandatory_publishes_to_nowhere_are_returned(
        perf: Callable[..., Outcome], url: str) -> None:
    queue = f"perf-test-{uuid.uuid4().hex[:8]}"
    with BlockingConnection(URLParameters(url)) as connection:
        channel = connection.channel()
        channel.queue_declare(queue)
        try:
            outcome = perf("-p", "-u", queue, "-e", "amq.direct", "-k", "no-binding", "-f",
                           "mandatory", "-y", "0", "-C", "200", "-c", "20", "--json")
        finally:
            declared = channel.queue_declare(queue, passive=True)
            channel.queue_delete(queue)
    assert outcome.code == 0, outcome.stderr
    assert outcome.result is not None
    totals = outcome.result["totals"]
    assert totals["published"] == totals["returned"] == 200
    assert totals["confirmed"] == totals["nacked"] == 0
    assert outcome.result["cleanup"]["deleted_queue"] is False  # predeclared: left alone
    assert declared.method.message_count == 0


def test_strict_check_catches_what_a_max_length_queue_dropped(
        perf: Callable[..., Outcome]) -> None:
    # RabbitMQ confirms a message and then drops the oldest ones (x-max-length, drop-head):
    # confirmed, but neither received nor left in the queue.
    outcome = perf("--queue-args", "x-max-length=5,x-overflow=drop-head", "-C", "3000",
                   "-c", "500", "-q", "1", "--json", "--strict")
    assert outcome.result is not None, outcome.stderr
    problems = outcome.result["checks"]["problems"]
    assert outcome.code == 3, outcome.stderr
    assert outcome.result["checks"]["ok"] is False
    assert any("were neither received nor left in the queue" in p for p in problems), problems
    assert "WARNING:" in outcome.stderr


@pytest.mark.parametrize("loop, api, signum", [
    ("select", "callback", signal.SIGTERM), ("select", "callback", signal.SIGINT),
    ("tornado", "callback", signal.SIGTERM), ("twisted", "deferred", signal.SIGTERM),
    ("asyncio", "awaitable", signal.SIGINT), ("blocking", "blocking", signal.SIGTERM),
], ids=["select-TERM", "select-INT", "tornado-TERM", "deferred-TERM", "awaitable-INT",
        "blocking-TERM"])
def test_a_signal_stops_it_cleanly(url: str, queue_exists: Callable[[str], bool], loop: str,
                                   api: str, signum: int) -> None:
    outcome, took = signal_run(url, ["--loop", loop, "--api", api, "-z", "60", "-r", "500",
                                     "-c", "1", "-i", "0.3"], signum)
    assert outcome.code == 0, outcome.stderr
    result = outcome.result
    assert result is not None
    assert result["stopped_by"] == "signal"
    assert took < 5.0
    assert result["duration_s"] < 10
    assert result["cleanup"]["deleted_queue"] is True
    assert not queue_exists(result["queue"])
    totals = result["totals"]
    assert totals["published"] > 0
    assert totals["published"] == totals["confirmed"] + totals["unconfirmed"]
    assert totals["received"] + totals["left_in_queue"] >= totals["confirmed"]


@pytest.mark.parametrize("api", ["callback", "awaitable", "blocking"])
def test_a_broker_that_cannot_be_reached_fails_the_run(api: str) -> None:
    from .conftest import run_perf

    outcome = run_perf("amqp://guest:guest@127.0.0.1:1/%2F", ["--api", api, "-C", "10",
                                                              "--json"])
    assert outcome.code == 1
    assert outcome.result is not None
    assert outcome.result["stopped_by"] == "error"
    [error] = outcome.result["errors"]
    assert error.startswith("set-up") and "TCPConnectionRefusedError" in error, error
    assert outcome.result["totals"]["published"] == 0
    assert "check: not trusted, the run failed" in outcome.stderr


@pytest.mark.parametrize("api", ["callback", "deferred", "blocking"])
def test_consumer_counts(perf: Callable[..., Outcome], api: str) -> None:
    """-D: each consumer stops after its count; what it was sent beyond it goes back to the
    queue for the other consumer (rejected), so together they get every message."""
    outcome = perf("--api", api, "-x", "1", "-y", "2", "-C", "1000", "-D", "500", "-q", "20",
                   "--json")
    assert outcome.code == 0, outcome.stderr
    result = outcome.result
    assert result is not None
    assert result["stopped_by"] == "count"
    assert result["totals"]["received"] == result["totals"]["unique"] == 1000
    assert result["totals"]["duplicates"] == 0
    assert result["checks"]["ok"] is True


def test_declared_exchange_and_quorum_queue_are_deleted(
        perf: Callable[..., Outcome], url: str) -> None:
    exchange = f"perf-test-{uuid.uuid4().hex[:8]}"
    outcome = perf("-e", exchange, "-t", "topic", "-k", "orders.eu", "--quorum-queue",
                   "-f", "persistent", "-C", "500", "-c", "50", "--json")
    assert outcome.code == 0, outcome.stderr
    assert outcome.result is not None
    assert_adds_up(outcome.result, 500)
    assert outcome.result["cleanup"] == {"deleted_queue": True, "deleted_exchange": True}
    with BlockingConnection(URLParameters(url)) as connection:
        with pytest.raises(ChannelClosedByBroker) as raised:
            connection.channel().exchange_declare(exchange, "topic", passive=True)
    assert raised.value.reply_code == 404
