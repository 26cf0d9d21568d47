"""The load tool's command line: PerfTest's vocabulary, parsed and validated.

Owns the flag table (ours <-> RabbitMQ PerfTest's, also printed in ``docs/perf-tool.md``),
the :class:`Options` value every other module reads, and every usage error with its exact
text. It must not open connections or import an adapter: validation is pure, so a wrong
command line fails before anything touches a broker.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from amqpbase import URLParameters
from amqpbase.streams import StreamOffset

#: Bytes every body starts with: run id, producer number, sequence number, send time (ns).
HEADER_SIZE = 24
DEFAULT_URI = "amqp://guest:guest@localhost:5672/%2F"

#: (loop, api) pairs that exist. The awaitable API is the asyncio-based loops'; the Deferred
#: API is Twisted's; blocking is BlockingConnection (a select loop on an I/O thread).
FLAVOURS: Tuple[Tuple[str, str], ...] = (
    ("select", "callback"),
    ("asyncio", "callback"),
    ("tornado", "callback"),
    ("twisted", "callback"),
    ("asyncio", "awaitable"),
    ("tornado", "awaitable"),
    ("twisted", "deferred"),
    ("blocking", "blocking"),
)
LOOPS = ("select", "asyncio", "tornado", "twisted", "blocking")
APIS = ("callback", "awaitable", "deferred", "blocking")
QUEUE_TYPES = ("classic", "quorum", "stream")

#: (our flags, PerfTest's flags, meaning) for the documentation and --help's epilog.
FLAG_TABLE: Tuple[Tuple[str, str, str], ...] = (
    ("-x, --producers N", "-x, --producers", "producer count (one connection each)"),
    ("-y, --consumers N", "-y, --consumers", "consumer count (one connection each)"),
    ("-s, --size BYTES", "-s, --size", f"body size (at least {HEADER_SIZE})"),
    ("-r, --rate MSG/S", "-r, --rate", "publish rate limit per producer (0: none)"),
    ("-c, --confirm N", "-c, --confirm", "confirm window: at most N unconfirmed (0: off)"),
    ("-a, --autoack", "-a, --autoack", "consume with auto-ack"),
    ("-q, --qos N", "-q, --qos", "consumer prefetch count"),
    ("-A, --multi-ack-every N", "-A, --multi-ack-every", "one multiple ack every N"),
    ("-z, --time S", "-z, --time", "run time in seconds"),
    ("-C, --pmessages N", "-C, --pmessages", "messages per producer"),
    ("-D, --cmessages N", "-D, --cmessages", "messages per consumer"),
    ("-u, --queue NAME", "-u, --queue", "queue name (default: a fresh amqpbase-perf-... one)"),
    ("--queue-type T", "--quorum-queue, --stream-queue", "classic, quorum or stream"),
    ("--quorum-queue", "-qq, --quorum-queue", "same as --queue-type quorum"),
    ("--stream-queue", "-sq, --stream-queue", "same as --queue-type stream"),
    ("--stream-offset O", "-sco, --stream-consumer-offset", "x-stream-offset of consumers"),
    ("--queue-args K=V,...", "-qa, --queue-args", "queue arguments"),
    ("-e, --exchange NAME", "-e, --exchange", "exchange (default: the default exchange)"),
    ("-t, --type TYPE", "-t, --type", "exchange type (default direct)"),
    ("-k, --routing-key KEY", "-k, --routing-key", "routing key (default: the queue name)"),
    ("-f, --flag F", "-f, --flag", "persistent or mandatory (repeatable)"),
    ("--uri URI", "-h, --uri", "broker URI (repeatable; -h stays --help)"),
    ("-H, --uris U1,U2", "-H, --uris", "broker URIs, connections spread across them"),
    ("-p, --predeclared", "-p, --predeclared", "use the existing queue/exchange as they are"),
    ("--keep", "-ad false, --auto-delete false", "do not delete what the run declared"),
    ("--auto-delete BOOL", "-ad, --auto-delete", "false is --keep"),
    ("-i, --interval S", "-i, --interval", "seconds between live lines"),
    ("-d, --id ID", "-d, --id", "test id shown in the output"),
    ("-b, --heartbeat S", "-b, --heartbeat", "heartbeat timeout to ask for"),
    ("--loop L / --api A", "(none)", "flavour: select, asyncio, tornado, twisted, blocking"),
    ("--json", "(none)", "print the result as JSON on stdout (live lines to stderr)"),
    ("--strict", "(none)", "exit 3 when the correctness check finds a problem"),
)


class UsageError(ValueError):
    """A command line that cannot run; the text names the flag and what is wrong."""


@dataclass
class Options:
    """Everything a run needs, validated."""

    producers: int = 1
    consumers: int = 1
    size: int = HEADER_SIZE
    rate: float = 0.0
    confirm: int = 0
    autoack: bool = False
    qos: int = 0
    multi_ack_every: int = 0
    time: float = 0.0
    pmessages: int = 0
    cmessages: int = 0
    queue: str = ""
    queue_type: str = "classic"
    stream_offset: Optional[StreamOffset] = None
    queue_args: Dict[str, Any] = field(default_factory=dict)
    exchange: str = ""
    exchange_type: str = "direct"
    routing_key: str = ""
    persistent: bool = False
    mandatory: bool = False
    uris: List[str] = field(default_factory=lambda: [DEFAULT_URI])
    predeclared: bool = False
    keep: bool = False
    interval: float = 1.0
    id: str = ""
    heartbeat: Optional[int] = None
    loop: str = "select"
    api: str = "callback"
    json: bool = False
    strict: bool = False

    @property
    def flavour(self) -> str:
        """``loop/api``, e.g. ``select/callback``."""
        return f"{self.loop}/{self.api}"

    def as_dict(self) -> Dict[str, Any]:
        """The options for the JSON report (URIs without their passwords)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["uris"] = [_hide_password(uri) for uri in self.uris]
        if self.stream_offset is not None:  # the wire value: "next", 42, "1h"
            value = self.stream_offset.value
            data["stream_offset"] = int(value) if isinstance(value, int) else value
        return data


def _hide_password(uri: str) -> str:
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", uri)


def _parser() -> argparse.ArgumentParser:
    epilog = "flags (ours | PerfTest's):\n" + "\n".join(
        f"  {ours:<26} {theirs:<32} {meaning}" for ours, theirs, meaning in FLAG_TABLE)
    parser = argparse.ArgumentParser(
        prog="amqpbase-perf",
        description="A PerfTest-style load tool for RabbitMQ (amqpbase). docs/perf-tool.md",
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    add = parser.add_argument
    add("-x", "--producers", type=int, default=1)
    add("-y", "--consumers", type=int, default=1)
    add("-s", "--size", type=int, default=HEADER_SIZE)
    add("-r", "--rate", type=float, default=0.0)
    add("-c", "--confirm", type=int, default=0)
    add("-a", "--autoack", action="store_true")
    add("-q", "--qos", type=int, default=0)
    add("-A", "--multi-ack-every", type=int, default=0)
    add("-z", "--time", type=float, default=0.0)
    add("-C", "--pmessages", type=int, default=0)
    add("-D", "--cmessages", type=int, default=0)
    add("-u", "--queue", default="")
    add("--queue-type", choices=QUEUE_TYPES, default=None)
    add("--quorum-queue", action="store_true")
    add("--stream-queue", action="store_true")
    add("--stream-offset", "--stream-consumer-offset", dest="stream_offset", default=None)
    add("--queue-args", action="append", default=[])
    add("-e", "--exchange", default="")
    add("-t", "--type", dest="exchange_type", default="direct")
    add("-k", "--routing-key", default="")
    add("-f", "--flag", action="append", default=[], choices=("persistent", "mandatory"))
    add("--uri", action="append", default=[])
    add("-H", "--uris", action="append", default=[])
    add("-p", "--predeclared", action="store_true")
    add("--keep", action="store_true")
    add("--auto-delete", choices=("true", "false"), default=None)
    add("-i", "--interval", type=float, default=1.0)
    add("-d", "--id", default="")
    add("-b", "--heartbeat", type=int, default=None)
    add("--loop", choices=LOOPS, default=None)
    add("--api", choices=APIS, default=None)
    add("--json", action="store_true")
    add("--strict", action="store_true")
    return parser


def _queue_args(specs: Sequence[str]) -> Dict[str, Any]:
    """``key=value[,key=value]``: integers and true/false become numbers and booleans."""
    args: Dict[str, Any] = {}
    for spec in specs:
        for item in spec.split(","):
            if not item:
                continue
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise UsageError(
                    f"--queue-args: {item!r} is not key=value (expected key=value[,key=value...])")
            if re.fullmatch(r"-?[0-9]+", value):
                args[key] = int(value)
            elif value in ("true", "false"):
                args[key] = value == "true"
            else:
                args[key] = value
    return args


_NAMED_OFFSETS: Dict[str, Callable[[], StreamOffset]] = {
    "first": StreamOffset.first, "last": StreamOffset.last, "next": StreamOffset.next}


def _stream_offset(text: str) -> StreamOffset:
    """``--stream-offset``'s text as the validated offset (an absolute offset goes out as a
    signed 64-bit long, as RabbitMQ requires; amqpbase/streams.py)."""
    try:
        named = _NAMED_OFFSETS.get(text)
        if named is not None:
            return named()
        if re.fullmatch(r"[0-9]+", text):
            return StreamOffset.at(int(text))
        return StreamOffset.interval(text)
    except (TypeError, ValueError):
        raise UsageError(f"--stream-offset {text!r}: expected first, last, next, an offset "
                         "(a non-negative integer) or an interval such as 1h, 30m, 10s") from None


def _flavour(loop: Optional[str], api: Optional[str]) -> Tuple[str, str]:
    if loop == "blocking" or api == "blocking":
        if loop not in (None, "blocking") or api not in (None, "blocking"):
            raise UsageError(f"--loop {loop} --api {api}: the blocking API has its own loop "
                             "(use --api blocking alone)")
        return "blocking", "blocking"
    if api is None:
        api = "callback"
    if loop is None:
        loop = {"callback": "select", "awaitable": "asyncio", "deferred": "twisted"}[api]
    if (loop, api) not in FLAVOURS:
        runs_on = {"awaitable": "asyncio or tornado", "deferred": "twisted",
                   "callback": "select, asyncio, tornado or twisted"}[api]
        raise UsageError(f"--api {api} runs on {runs_on}, not --loop {loop}")
    return loop, api


def _uris(ns: argparse.Namespace) -> List[str]:
    uris = list(ns.uri)
    for group in ns.uris:
        uris.extend(part.strip() for part in group.split(",") if part.strip())
    if not uris:
        return [DEFAULT_URI]
    for uri in uris:
        try:
            URLParameters(uri)
        except (TypeError, ValueError) as error:
            raise UsageError(f"--uri {_hide_password(uri)!r}: {error}") from None
    return uris


def parse(argv: Sequence[str]) -> Options:
    """Parse and validate ``argv``. argparse's own errors exit with status 2 (as usual);
    the cross-flag rules raise :class:`UsageError`."""
    ns = _parser().parse_args(list(argv))
    return validate(ns)


def validate(ns: argparse.Namespace) -> Options:
    """Build :class:`Options` from parsed flags, enforcing every rule between them."""
    for name in ("producers", "consumers", "confirm", "qos", "multi_ack_every", "pmessages",
                 "cmessages"):
        if getattr(ns, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')} must not be negative, got "
                             f"{getattr(ns, name)}")
    for name in ("rate", "time"):
        if getattr(ns, name) < 0:
            raise UsageError(f"--{name} must not be negative, got {getattr(ns, name)}")
    if ns.producers == 0 and ns.consumers == 0:
        raise UsageError("--producers and --consumers are both 0: nothing to run")
    if ns.size < HEADER_SIZE:
        raise UsageError(f"--size must be at least {HEADER_SIZE} bytes: every body carries a "
                         "run id, a producer number, a sequence number and its send time")
    if ns.interval <= 0:
        raise UsageError(f"--interval must be positive, got {ns.interval}")
    queue_args = _queue_args(ns.queue_args)
    types = [t for t, on in (("quorum", ns.quorum_queue), ("stream", ns.stream_queue)) if on]
    if ns.queue_type:
        types.append(ns.queue_type)
    if not types and queue_args.get("x-queue-type") in QUEUE_TYPES:
        types.append(queue_args["x-queue-type"])  # PerfTest's way: -qa x-queue-type=quorum
    if len(set(types)) > 1:
        raise UsageError(f"conflicting queue types: {', '.join(sorted(set(types)))}")
    queue_type = types[0] if types else "classic"
    loop, api = _flavour(ns.loop, ns.api)
    if ns.autoack and ns.multi_ack_every:
        raise UsageError("--autoack and --multi-ack-every exclude each other: an auto-ack "
                         "consumer sends no acks")
    offset: Optional[StreamOffset] = None
    if ns.stream_offset is not None:
        if queue_type != "stream":
            raise UsageError("--stream-offset needs --queue-type stream")
        offset = _stream_offset(ns.stream_offset)
    if queue_type == "stream":
        if offset is None:
            offset = StreamOffset.next()
        if ns.consumers and ns.autoack:
            raise UsageError("--autoack: a stream queue needs manual acks (RabbitMQ refuses "
                             "an auto-ack consumer on a stream)")
        if ns.consumers and ns.qos == 0:
            raise UsageError("--qos: a stream queue needs a prefetch, e.g. -q 500 (RabbitMQ "
                             "refuses a stream consumer without one)")
    if api == "blocking" and ns.confirm > 1:
        raise UsageError(f"--confirm {ns.confirm}: the blocking API's basic_publish waits for "
                         "each confirm, so its window is 1: use -c 1, or another --api for "
                         "a pipelined window")
    if ns.predeclared and not ns.queue:
        raise UsageError("--predeclared needs --queue: the name of the queue to use")
    if "x-queue-type" in queue_args and queue_args["x-queue-type"] != queue_type:
        raise UsageError(f"--queue-args x-queue-type={queue_args['x-queue-type']} contradicts "
                         f"the queue type {queue_type}")
    if queue_type != "classic":
        queue_args["x-queue-type"] = queue_type
    return Options(
        producers=ns.producers, consumers=ns.consumers, size=ns.size, rate=ns.rate,
        confirm=ns.confirm, autoack=ns.autoack, qos=ns.qos,
        multi_ack_every=ns.multi_ack_every, time=ns.time, pmessages=ns.pmessages,
        cmessages=ns.cmessages, queue=ns.queue, queue_type=queue_type, stream_offset=offset,
        queue_args=queue_args, exchange=ns.exchange, exchange_type=ns.exchange_type,
        routing_key=ns.routing_key, persistent="persistent" in ns.flag,
        mandatory="mandatory" in ns.flag, uris=_uris(ns), predeclared=ns.predeclared,
        keep=ns.keep or ns.auto_delete == "false", interval=ns.interval, id=ns.id,
        heartbeat=ns.heartbeat, loop=loop, api=api, json=ns.json, strict=ns.strict,
    )
