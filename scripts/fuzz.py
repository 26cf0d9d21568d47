#!/usr/bin/env python3
"""Fuzz amqpbase's inbound path: the frame decoder plus the base Connection (issue 6).

Every input is a byte stream "from the broker", fed to a FRESH connection (an in-memory
adapter below: no socket, a fake clock) from its protocol header on, in random chunk sizes.
The connection runs :class:`Scenario`, the same client program ``scripts/capture_corpus.py``
ran against a real RabbitMQ node to record the corpus (``tests/fuzz_corpus/``), so an
unmutated corpus stream replays the whole session (handshake, confirms, consume, Return,
basic_get, GetEmpty, a channel closed by the broker, a second channel) and a mutated one
fails somewhere along it. Inputs are corpus streams with stacked mutations (byte flips,
inserts, deletes, splices of corpus frames, frame drop/duplicate/swap, length-field, type and
channel mutations, truncations) and some purely random bytes. A share of the inputs also
goes to :class:`amqpbase.frame.FrameDecoder` alone, differentially: ``feed`` on the whole
input against ``feed_deliveries`` on random chunks must give the same frames and error.

Asserted for every input (a violation is a *failure*, printed with its seed and input):

- no exception escapes ``_on_data_available`` (nor the end-of-stream and timer calls);
- the connection reports exactly once: ``on_open_error`` if it never opened, else
  ``on_close``, with an exception of the :data:`ALLOWED` types (a protocol error the client
  found, the forced end of stream, or what the bytes legitimately say: a broker
  Connection.Close, another protocol version, a mechanism it cannot use);
- a Connection.Close the client sent carries the reported error's reply code, and one was
  sent for every protocol error found on an open connection;
- no user-callback or loop exception is logged by amqpbase (``Exception in ...``);
- no input takes longer than ``--max-input-seconds`` (a hang or quadratic blow-up);
- RSS stays bounded: its growth after warm-up stays under ``--rss-growth-mb``.

Usage: ``scripts/fuzz.py [--inputs N] [--seed S] [--time-limit SECONDS] [--corpus DIR]``.
Exit status 1 when any failure was found. ``run()`` is the engine for the in-suite run.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import logging
import os
import random
import resource
import struct
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

if str(REPO / "scripts") not in sys.path:  # fuzz_scenario, next to this file
    sys.path.insert(0, str(REPO / "scripts"))

from fuzz_scenario import Scenario, scenario_params  # noqa: E402

from amqpbase import exceptions, frame, spec  # noqa: E402
from amqpbase.connection import Connection  # noqa: E402
from amqpbase.parameters import ConnectionParameters  # noqa: E402

CORPUS = REPO / "tests" / "fuzz_corpus"

#: What may reach on_close / on_open_error. ProtocolSyntaxError covers its subclasses (501
#: frame, 502 syntax, 503 command invalid, 504 channel, 505 unexpected frame, frame_max
#: below 4096); MethodNotImplemented is an unknown class/method id (540); StreamLostError is
#: the end of stream forced after the input. The rest is what bytes can legitimately say:
#: a Connection.Close from the "broker" (ConnectionClosedByBroker, or 403/530 during the
#: handshake), a protocol header or Start for another version, no usable SASL mechanism.
ALLOWED: Tuple[type, ...] = (
    exceptions.ProtocolSyntaxError,
    exceptions.MethodNotImplemented,
    exceptions.StreamLostError,
    exceptions.ConnectionClosedByBroker,
    exceptions.ProbableAuthenticationError,
    exceptions.ProbableAccessDeniedError,
    exceptions.IncompatibleProtocolError,
    exceptions.AuthenticationError,
)
PROTOCOL_ERRORS = (exceptions.ProtocolSyntaxError, exceptions.MethodNotImplemented)


# --------------------------------------------------------------------------------------------
# In-memory adapter
# --------------------------------------------------------------------------------------------


class Clock:
    """Timers on a fake clock; :meth:`advance` runs what is due."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: List[Tuple[float, int, List[Any]]] = []
        self._seq = itertools.count()

    def call_later(self, delay: float, callback: Callable[[], Any]) -> List[Any]:
        timer = [callback]  # [callback] while armed, [] once cancelled or run
        heapq.heappush(self._heap, (self.now + max(0.0, delay), next(self._seq), timer))
        return timer

    def advance(self, seconds: float) -> None:
        deadline = self.now + seconds
        while self._heap and self._heap[0][0] <= deadline:
            when, _, timer = heapq.heappop(self._heap)
            if timer:
                self.now = max(self.now, when)
                timer.pop()()
        self.now = deadline


class MemoryConnection(Connection):
    """The base Connection over memory: what it emits is kept, up-calls come from timers
    (later, never re-entrantly, as the hook contract says)."""

    def __init__(self, params: ConnectionParameters, scenario: "Scenario") -> None:
        self.clock = Clock()
        self.outbound: List[bytes] = []
        self._terminating = False
        self.opened: List[bool] = []
        self.open_errors: List[BaseException] = []
        self.closed: List[BaseException] = []
        super().__init__(params,
                         on_open_callback=scenario.on_open,
                         on_open_error_callback=lambda c, e: self.open_errors.append(e),
                         on_close_callback=lambda c, e: self.closed.append(e))
        self.add_on_open_callback(lambda c: self.opened.append(True))

    @classmethod
    def _workflow_loop(cls, custom_ioloop: Any) -> Any:
        return custom_ioloop

    @classmethod
    def _create_for_workflow(cls, params: Any, on_open: Any, on_error: Any,
                             custom_ioloop: Any) -> Connection:
        raise NotImplementedError("the fuzzer builds its connections itself")

    def _adapter_connect_stream(self) -> None:
        self.clock.call_later(0, self._on_stream_connected)

    def _adapter_disconnect_stream(self) -> None:
        if not self._terminating:
            self._terminating = True
            self.clock.call_later(0, lambda: self._on_stream_terminated(None))

    def _adapter_emit_data(self, data: Any) -> None:
        self.outbound.append(bytes(data))

    def _adapter_get_write_buffer_size(self) -> int:
        return 0

    def _adapter_call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.clock.call_later(delay, callback)

    def _adapter_remove_timeout(self, handle: Any) -> None:
        handle.clear()

    def _adapter_add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        self.clock.call_later(0, callback)

    def end_of_stream(self) -> None:
        """The peer's EOF, as an adapter reports it."""
        if not self._terminating and not self.is_closed:
            self._terminating = True
            self._on_stream_terminated(exceptions.StreamLostError("end of fuzz input"))


# --------------------------------------------------------------------------------------------
# Corpus and mutations
# --------------------------------------------------------------------------------------------


def load_corpus(directory: Path = CORPUS) -> List[Tuple[str, int, bytes]]:
    """``(name, frame_max, stream)`` for every ``<name>.fmax<N>.bin`` in ``directory``."""
    found = []
    for path in sorted(directory.glob("*.fmax*.bin")):
        frame_max = int(path.name.rsplit(".fmax", 1)[1].split(".")[0])
        found.append((path.name, frame_max, path.read_bytes()))
    if not found:
        raise SystemExit(f"no corpus files (*.fmax<N>.bin) in {directory}")
    return found


def split_frames(stream: bytes) -> List[bytes]:
    """The frames of a valid broker stream, each as its own bytes."""
    frames, position = [], 0
    while position + 7 <= len(stream):
        size = struct.unpack_from("!I", stream, position + 3)[0]
        frames.append(stream[position:position + size + 8])
        position += size + 8
    return frames


INTERESTING_32 = (0, 1, 3, 4, 7, 8, 0x7F, 0xFF, 0x100, 0xFFFF, 0x10000, 4088, 4096, 131064,
                  0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)


def extra_frames() -> List[bytes]:
    """Well-formed broker frames the captured session does not contain, for splices and
    tails: RabbitMQ's Blocked/Unblocked, heartbeats, a consumer cancel, a Nack, a flow
    request, a broker Channel.Close and Connection.Close, a Secret-update reply."""
    methods = [
        (0, spec.Connection.Blocked(reason="low on memory")), (0, spec.Connection.Unblocked()),
        (1, spec.Basic.Cancel(consumer_tag="ctag")), (1, spec.Basic.Nack(delivery_tag=2)),
        (1, spec.Channel.Flow(active=False)), (0, spec.Connection.UpdateSecretOk()),
        (1, spec.Channel.Close(reply_code=406, reply_text="PRECONDITION_FAILED", class_id=60,
                               method_id=40)),
        (0, spec.Connection.Close(reply_code=320, reply_text="CONNECTION_FORCED", class_id=0,
                                  method_id=0)),
    ]
    return [bytes(frame.encode_method_frame(c, m)) for c, m in methods] + [frame.HEARTBEAT_FRAME]


class Mutator:
    """Builds one input from the corpus with 1-4 stacked mutations (see the module doc)."""

    def __init__(self, rng: random.Random, corpus: List[Tuple[str, int, bytes]]) -> None:
        self.rng = rng
        self.streams = [(frame_max, split_frames(stream)) for _, frame_max, stream in corpus]
        self.all_frames = [f for _, frames in self.streams for f in frames] + extra_frames()

    def make(self) -> Tuple[int, bytes, str]:
        """``(frame_max, input, kinds)``."""
        rng = self.rng
        frame_max, frames = rng.choice(self.streams)
        if rng.random() < 0.03:
            return frame_max, rng.randbytes(rng.randint(1, 300)), "random"
        keep = 3 if rng.random() < 0.02 else 1 + rng.randrange(3, len(frames))  # handshake+
        frames = list(frames[:keep])
        kinds = []
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
            kind = rng.choice(self.KINDS)
            kinds.append(kind)
            frames = getattr(self, "_" + kind)(frames)
            if not frames:
                frames = [b""]
        return frame_max, b"".join(frames), "+".join(kinds)

    KINDS = ("flip", "flip", "insert", "delete", "splice", "drop", "duplicate", "swap",
             "length", "length", "type", "channel", "truncate", "field", "field", "tail",
             "frame_end")

    def _pick(self, frames: List[bytes], skip_handshake: bool = True) -> int:
        low = 3 if skip_handshake and len(frames) > 3 and self.rng.random() < 0.9 else 0
        return self.rng.randrange(low, len(frames))

    def _edit(self, frames: List[bytes], edit: Callable[[bytearray], None]) -> List[bytes]:
        index = self._pick(frames)
        data = bytearray(frames[index])
        if data:
            edit(data)
        frames[index] = bytes(data)
        return frames

    def _flip(self, frames: List[bytes]) -> List[bytes]:
        def edit(data: bytearray) -> None:
            for _ in range(self.rng.randint(1, 3)):
                data[self.rng.randrange(len(data))] ^= self.rng.randint(1, 255)
        return self._edit(frames, edit)

    def _insert(self, frames: List[bytes]) -> List[bytes]:
        def edit(data: bytearray) -> None:
            at = self.rng.randrange(len(data) + 1)
            data[at:at] = self.rng.choice((b"\xce", b"\x00", b"\xff\xff\xff\xff",
                                           self.rng.randbytes(self.rng.randint(1, 8))))
        return self._edit(frames, edit)

    def _delete(self, frames: List[bytes]) -> List[bytes]:
        def edit(data: bytearray) -> None:
            at = self.rng.randrange(len(data))
            del data[at:at + self.rng.randint(1, 8)]
        return self._edit(frames, edit)

    def _splice(self, frames: List[bytes]) -> List[bytes]:
        donor = self.rng.choice(self.all_frames)
        start = self.rng.randrange(len(donor))
        piece = donor[start:start + self.rng.randint(1, 64)]
        return self._edit(frames, lambda data: data.__setitem__(
            slice(self.rng.randrange(len(data)), None), piece))

    def _drop(self, frames: List[bytes]) -> List[bytes]:
        del frames[self._pick(frames)]
        return frames

    def _duplicate(self, frames: List[bytes]) -> List[bytes]:
        index = self._pick(frames)
        frames.insert(self._pick(frames), frames[index])
        return frames

    def _swap(self, frames: List[bytes]) -> List[bytes]:
        a, b = self._pick(frames), self._pick(frames)
        frames[a], frames[b] = frames[b], frames[a]
        return frames

    def _length(self, frames: List[bytes]) -> List[bytes]:
        def edit(data: bytearray) -> None:
            if len(data) < 7:
                return
            size = struct.unpack_from("!I", data, 3)[0]
            new = self.rng.choice((self.rng.choice(INTERESTING_32), size + self.rng.randint(-8, 8),
                                   self.rng.getrandbits(32)))
            struct.pack_into("!I", data, 3, new & 0xFFFFFFFF)
        return self._edit(frames, edit)

    def _type(self, frames: List[bytes]) -> List[bytes]:
        return self._edit(frames, lambda data: data.__setitem__(
            0, self.rng.choice((1, 2, 3, 8, 0, 4, 9, 0x41, self.rng.randrange(256)))))

    def _channel(self, frames: List[bytes]) -> List[bytes]:
        def edit(data: bytearray) -> None:
            if len(data) >= 3:
                struct.pack_into("!H", data, 1, self.rng.choice((0, 1, 2, 3, 0xFFFF)))
        return self._edit(frames, edit)

    def _truncate(self, frames: List[bytes]) -> List[bytes]:
        index = self._pick(frames)
        frames[index] = frames[index][:self.rng.randrange(len(frames[index]) + 1)]
        return frames[:index + 1]

    def _field(self, frames: List[bytes]) -> List[bytes]:
        """Overwrite 1, 2, 4 or 8 payload bytes with a boundary value: string, table and
        array lengths, property flags, class/method ids, counts."""
        def edit(data: bytearray) -> None:
            if len(data) < 9:
                return
            width = self.rng.choice((1, 2, 4, 8))
            at = self.rng.randrange(7, max(8, len(data) - width))
            value = self.rng.choice((0, 1, 0xFF, 0x7F, 0x80, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF,
                                     2**63, 2**64 - 1, self.rng.getrandbits(64)))
            data[at:at + width] = (value & (2 ** (8 * width) - 1)).to_bytes(width, "big")
        return self._edit(frames, edit)

    def _tail(self, frames: List[bytes]) -> List[bytes]:
        return frames + [self.rng.choice(self.all_frames)
                         for _ in range(self.rng.randint(1, 4))]

    def _frame_end(self, frames: List[bytes]) -> List[bytes]:
        return self._edit(frames, lambda data: data.__setitem__(-1, self.rng.randrange(256)))


# --------------------------------------------------------------------------------------------
# Running one input
# --------------------------------------------------------------------------------------------


class Failure(Exception):
    """An input broke one of the asserted properties."""


class LoggedExceptions(logging.Handler):
    """Collects amqpbase log records that carry a traceback (an exception a callback or the
    loop swallowed)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is not None:
            self.records.append(record)


def chunks(rng: random.Random, data: bytes) -> List[bytes]:
    """``data`` cut at random places: whole, byte by byte for a stretch of up to 64 bytes,
    or in random sizes."""
    roll = rng.random()
    if roll < 0.4 or len(data) < 2:
        return [data]
    if roll < 0.55:
        start = rng.randrange(len(data))
        stop = min(len(data), start + rng.randint(1, 64))
        return [data[:start]] + [data[i:i + 1] for i in range(start, stop)] + [data[stop:]]
    out, position = [], 0
    while position < len(data):
        size = rng.randint(1, max(1, len(data) // 3))
        out.append(data[position:position + size])
        position += size
    return out


def client_closes(connection: MemoryConnection) -> List[Any]:
    decoder = frame.FrameDecoder(0)
    methods: List[Any] = []
    for chunk in connection.outbound:
        methods.extend(f.method for f in decoder.feed(chunk) if isinstance(f, frame.Method))
    return [m for m in methods if isinstance(m, spec.Connection.Close)]


def run_connection(data: bytes, frame_max: int, pieces: List[bytes],
                   logged: LoggedExceptions) -> str:
    """Feed one input to a fresh connection; return its outcome; raise Failure."""
    scenario = Scenario()
    connection = MemoryConnection(scenario_params(frame_max), scenario)
    connection.clock.advance(0)  # begin the attempt, then the stream is up
    connection.clock.advance(0)
    for piece in pieces:
        try:
            connection._on_data_available(piece)
        except Exception as error:  # noqa: BLE001 - this is what the fuzzer looks for
            raise Failure(f"{type(error).__name__} escaped _on_data_available: {error}") \
                from error
    was_open = connection.is_open
    try:
        if connection.is_closing:
            connection.clock.advance(connection.close_timeout + 1)
        connection.end_of_stream()
        connection.clock.advance(0)
    except Exception as error:  # noqa: BLE001
        raise Failure(f"{type(error).__name__} escaped the close: {error}") from error
    if logged.records:
        record = logged.records[0]
        raise Failure(f"logged: {record.getMessage()} {record.exc_info[1]!r}")  # type: ignore
    if not connection.is_closed:
        raise Failure(f"not closed after the end of stream: {connection.state.name}")
    reports = connection.open_errors + connection.closed
    if len(reports) != 1 or (connection.opened and connection.open_errors) or (
            not connection.opened and connection.closed):
        raise Failure(f"reports: opened={connection.opened} open_errors="
                      f"{connection.open_errors!r} closed={connection.closed!r}")
    reason = reports[0]
    if not isinstance(reason, ALLOWED):
        raise Failure(f"unexpected exception type reported: {reason!r}")
    closes = client_closes(connection)
    if isinstance(reason, PROTOCOL_ERRORS):
        if closes and closes[0].reply_code != reason.reply_code:
            raise Failure(f"Close {closes[0].reply_code} sent for {reason!r}")
        if connection.opened and not closes:
            raise Failure(f"no Connection.Close sent for {reason!r} on an open connection")
    where = "open" if connection.opened else "handshake"
    if was_open and isinstance(reason, exceptions.StreamLostError):
        return "done-then-eof" if scenario.done else f"open-then-eof@phase{scenario.phase}"
    code = getattr(reason, "reply_code", "")
    return f"{where}:{type(reason).__name__}{'(' + str(code) + ')' if code else ''}"


def decoded(decoder: frame.FrameDecoder, pieces: List[bytes], deliveries: bool
            ) -> Tuple[List[Any], Optional[type]]:
    """Every frame decoded from ``pieces`` (a Delivery expanded into its three frames, the
    frames before an error included) and the error's class, if any."""
    got: List[Any] = []
    for piece in pieces:
        try:
            out = decoder.feed_deliveries(piece) if deliveries else decoder.feed(piece)
        except (exceptions.ProtocolSyntaxError, exceptions.MethodNotImplemented) as error:
            out, failed = decoder.frames_before_error, type(error)
        else:
            failed = None
        for item in out:
            got.extend(item.frames() if type(item) is frame.Delivery else [item])
        if failed is not None:
            return got, failed
    return got, None


def run_decoder(data: bytes, frame_max: int, pieces: List[bytes]) -> str:
    """Differential: ``feed`` of the whole input vs ``feed_deliveries`` of its chunks."""
    whole, whole_error = decoded(frame.FrameDecoder(frame_max), [data], False)
    split, split_error = decoded(frame.FrameDecoder(frame_max), pieces, True)
    # repr() where == fails: a mutated double can decode to NaN, which is != itself
    if whole_error is not split_error or (whole != split and list(map(repr, whole))
                                          != list(map(repr, split))):
        raise Failure(f"decoder disagrees: whole {len(whole)} frames {whole_error}, chunked "
                      f"{len(split)} frames {split_error}")
    return f"decoder:{whole_error.__name__ if whole_error else 'ok'}"


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Report:
    def __init__(self) -> None:
        self.inputs = 0
        self.outcomes: Counter[str] = Counter()
        self.failures: List[Tuple[int, str, str, bytes]] = []
        self.seconds = 0.0
        self.slowest = 0.0
        self.rss_start = rss_mb()
        self.rss_warm = 0.0
        self.rss_end = 0.0

    @property
    def peak_rss_mb(self) -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def lines(self) -> List[str]:
        rate = self.inputs / self.seconds if self.seconds else 0.0
        out = [f"inputs: {self.inputs}  wall: {self.seconds:.1f} s  rate: {rate:.0f} inputs/s"
               f"  slowest input: {self.slowest * 1000:.1f} ms",
               f"RSS MB: start {self.rss_start:.1f}  after warm-up {self.rss_warm:.1f}  "
               f"end {self.rss_end:.1f}  peak {self.peak_rss_mb:.1f}",
               f"failures: {len(self.failures)}", "outcomes:"]
        out += [f"  {count:9d}  {name}" for name, count in self.outcomes.most_common()]
        for index, message, kinds, data in self.failures[:20]:
            out.append(f"FAILURE input #{index} ({kinds}): {message}\n    {data[:400].hex()}")
        return out


def run(inputs: int, seed: int = 0, time_limit: Optional[float] = None,
        corpus_dir: Path = CORPUS, max_input_seconds: float = 1.0,
        rss_growth_mb: float = 64.0, decoder_share: float = 0.2,
        progress: Optional[Callable[[Report], None]] = None) -> Report:
    """Run ``inputs`` inputs (fewer if ``time_limit`` seconds pass first); see the module
    docstring for what is checked. Returns the :class:`Report`."""
    rng = random.Random(seed)
    mutator = Mutator(rng, load_corpus(corpus_dir))
    report = Report()
    logged = LoggedExceptions()
    root = logging.getLogger("amqpbase")
    root.addHandler(logged)
    previous_level = root.level
    root.setLevel(logging.ERROR)  # protocol errors are logged at ERROR: keep them cheap
    propagate = root.propagate
    root.propagate = False
    warm_up = min(5000, max(1, inputs // 10))
    started = time.monotonic()
    try:
        for index in range(inputs):
            frame_max, data, kinds = mutator.make()
            pieces = chunks(rng, data)
            logged.records.clear()
            begin = time.perf_counter()
            try:
                if rng.random() < decoder_share:
                    outcome = run_decoder(data, frame_max, pieces)
                else:
                    outcome = run_connection(data, frame_max, pieces, logged)
            except Failure as failure:
                outcome = "FAILURE"
                report.failures.append((index, str(failure), kinds, data))
            took = time.perf_counter() - begin
            report.slowest = max(report.slowest, took)
            if took > max_input_seconds:
                report.failures.append((index, f"took {took:.2f} s", kinds, data))
            report.outcomes[outcome] += 1
            report.inputs += 1
            if report.inputs == warm_up:
                report.rss_warm = rss_mb()
            if report.inputs % 20000 == 0:
                report.seconds = time.monotonic() - started
                if progress is not None:
                    progress(report)
                if time_limit is not None and report.seconds > time_limit:
                    break
                growth = rss_mb() - report.rss_warm
                if report.rss_warm and growth > rss_growth_mb:
                    report.failures.append((index, f"RSS grew {growth:.0f} MB", "", b""))
                    break
    finally:
        root.removeHandler(logged)
        root.setLevel(previous_level)
        root.propagate = propagate
    report.seconds = time.monotonic() - started
    report.rss_end = rss_mb()
    if not report.rss_warm:
        report.rss_warm = report.rss_end
    if report.rss_end - report.rss_warm > rss_growth_mb:
        report.failures.append((-1, f"RSS grew {report.rss_end - report.rss_warm:.0f} MB",
                                "", b""))
    return report


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=None, help="seconds")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--max-input-seconds", type=float, default=1.0)
    parser.add_argument("--rss-growth-mb", type=float, default=64.0)
    parser.add_argument("--decoder-share", type=float, default=0.2)
    args = parser.parse_args(argv)

    def progress(report: Report) -> None:
        print(f"... {report.inputs} inputs, {report.inputs / report.seconds:.0f}/s, "
              f"{len(report.failures)} failure(s), RSS {rss_mb():.1f} MB", flush=True)

    report = run(args.inputs, args.seed, args.time_limit, args.corpus, args.max_input_seconds,
                 args.rss_growth_mb, args.decoder_share, progress)
    print(f"seed: {args.seed}")
    print("\n".join(report.lines()))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
