"""The command line: PerfTest's flags map to the options, and every wrong combination is
refused before any connection with a message that names the flag and the rule."""

from __future__ import annotations

import subprocess
import sys

import pytest

from amqpbase.fieldtable import Int64
from amqpbase.perf.options import DEFAULT_URI, HEADER_SIZE, UsageError, parse
from amqpbase.streams import StreamOffset


def test_perftest_flags() -> None:
    options = parse(["-x", "3", "-y", "2", "-s", "1000", "-r", "50", "-c", "10", "-q", "20",
                     "-A", "5", "-z", "7", "-C", "100", "-D", "90", "-u", "q1", "-e", "ex",
                     "-t", "topic", "-k", "a.b", "-f", "persistent", "-f", "mandatory",
                     "--queue-args", "x-max-length=10,x-overflow=drop-head,x-single-active-"
                     "consumer=true", "-i", "2", "-d", "run-1", "-b", "30"])
    assert (options.producers, options.consumers, options.size, options.rate) == (3, 2, 1000, 50)
    assert (options.confirm, options.qos, options.multi_ack_every) == (10, 20, 5)
    assert (options.time, options.pmessages, options.cmessages) == (7, 100, 90)
    assert (options.queue, options.exchange, options.exchange_type) == ("q1", "ex", "topic")
    assert options.routing_key == "a.b" and options.persistent and options.mandatory
    assert options.queue_args == {"x-max-length": 10, "x-overflow": "drop-head",
                                  "x-single-active-consumer": True}
    assert (options.interval, options.id, options.heartbeat) == (2, "run-1", 30)
    assert options.uris == [DEFAULT_URI] and (options.loop, options.api) == ("select", "callback")
    assert not options.keep


@pytest.mark.parametrize("argv, flavour", [
    ([], ("select", "callback")),
    (["--loop", "twisted"], ("twisted", "callback")),
    (["--api", "awaitable"], ("asyncio", "awaitable")),
    (["--api", "awaitable", "--loop", "tornado"], ("tornado", "awaitable")),
    (["--api", "deferred"], ("twisted", "deferred")),
    (["--api", "blocking"], ("blocking", "blocking")),
    (["--loop", "blocking"], ("blocking", "blocking")),
])
def test_flavour_defaults(argv: list, flavour: tuple) -> None:
    options = parse(argv)
    assert (options.loop, options.api) == flavour


def test_aliases() -> None:
    assert parse(["--auto-delete", "false"]).keep is True
    assert parse(["--keep"]).keep is True
    stream = parse(["--stream-queue", "-q", "10", "--stream-consumer-offset", "first"])
    assert stream.queue_type == "stream" and stream.stream_offset == StreamOffset.first()
    assert stream.queue_args == {"x-queue-type": "stream"}
    assert parse(["--quorum-queue"]).queue_args == {"x-queue-type": "quorum"}
    stream_args = ["--queue-type", "stream", "-q", "1", "--stream-offset"]
    assert parse([*stream_args, "42"]).stream_offset == StreamOffset.at(42)
    assert type(parse([*stream_args, "42"]).stream_offset.value) is Int64  # a long on the wire
    assert parse([*stream_args, "42"]).as_dict()["stream_offset"] == 42
    assert parse([*stream_args, "1h"]).stream_offset == StreamOffset.interval("1h")
    assert parse(["-H", "amqp://a/%2F,amqp://b/%2F", "--uri", "amqp://c/%2F"]).uris == [
        "amqp://c/%2F", "amqp://a/%2F", "amqp://b/%2F"]
    assert parse(["--uri", "amqp://u:secret@h/%2F"]).as_dict()["uris"] == ["amqp://u:***@h/%2F"]


@pytest.mark.parametrize("argv, message", [
    (["-x", "0", "-y", "0"], "--producers and --consumers are both 0: nothing to run"),
    (["-s", "10"], f"--size must be at least {HEADER_SIZE} bytes"),
    (["-c", "-1"], "--confirm must not be negative, got -1"),
    (["-r", "-5"], "--rate must not be negative, got -5.0"),
    (["-i", "0"], "--interval must be positive, got 0.0"),
    (["-a", "-A", "10"], "--autoack and --multi-ack-every exclude each other"),
    (["--queue-type", "stream", "-a", "-q", "10"],
     "--autoack: a stream queue needs manual acks"),
    (["--queue-type", "stream"], "--qos: a stream queue needs a prefetch, e.g. -q 500"),
    (["--stream-offset", "first"], "--stream-offset needs --queue-type stream"),
    (["--queue-type", "stream", "-q", "5", "--stream-offset", "yesterday"],
     "--stream-offset 'yesterday': expected first, last, next, an offset"),
    (["--quorum-queue", "--stream-queue"], "conflicting queue types: quorum, stream"),
    (["--api", "blocking", "-c", "10"],
     "--confirm 10: the blocking API's basic_publish waits for each confirm"),
    (["--api", "awaitable", "--loop", "select"],
     "--api awaitable runs on asyncio or tornado, not --loop select"),
    (["--api", "deferred", "--loop", "asyncio"],
     "--api deferred runs on twisted, not --loop asyncio"),
    (["--loop", "blocking", "--api", "callback"],
     "--loop blocking --api callback: the blocking API has its own loop"),
    (["-p"], "--predeclared needs --queue"),
    (["--queue-args", "x-max-length"], "--queue-args: 'x-max-length' is not key=value"),
    (["--queue-type", "quorum", "--queue-args", "x-queue-type=classic"],
     "--queue-args x-queue-type=classic contradicts the queue type quorum"),
    (["--uri", "http://broker/"], "--uri 'http://broker/': unsupported URL scheme"),
])
def test_usage_errors(argv: list, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse(argv)
    assert str(raised.value).startswith(message), str(raised.value)


def test_usage_error_exit_status_and_text() -> None:
    done = subprocess.run([sys.executable, "-m", "amqpbase.perf", "-s", "3"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith(f"amqpbase-perf: error: --size must be at least {HEADER_SIZE}")
    assert done.stdout == ""


def test_argparse_errors_exit_2() -> None:
    done = subprocess.run([sys.executable, "-m", "amqpbase.perf", "--loop", "gevent"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "argument --loop: invalid choice: 'gevent'" in done.stderr


def test_help_shows_the_flag_mapping() -> None:
    done = subprocess.run([sys.executable, "-m", "amqpbase.perf", "--help"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    assert "-ad false, --auto-delete false" in done.stdout
    assert "-h, --uri" in done.stdout


def test_queue_type_from_queue_args() -> None:
    """PerfTest users write ``--queue-args x-queue-type=quorum``: that sets the type too."""
    options = parse(["--queue-args", "x-queue-type=quorum"])
    assert options.queue_type == "quorum" and options.queue_args == {"x-queue-type": "quorum"}
