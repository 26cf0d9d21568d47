#!/usr/bin/env python3
"""Record the fuzz corpus: real broker-to-client AMQP traffic from a RabbitMQ node.

Runs :class:`fuzz_scenario.Scenario` (handshake, publisher confirms, a consumer with
several property sets and header tables, a 10 KiB body over several frames, a mandatory
unroutable publish answered by Basic.Return, basic_get GetOk then GetEmpty, a passive
declare of a missing queue that makes the broker close the channel with 404, a second
channel with basic_qos) with ``SelectConnection`` through a small loopback relay that records
every byte the broker sends. When the scenario is done, the recording (everything up to
there, before the client starts closing) is saved as ``<out>/session.fmax<N>.bin``, once for
each ``--frame-max`` (the fuzzer replays each file with the same client parameters).

Usage: ``scripts/capture_corpus.py --url amqp://guest:guest@127.0.0.1:5672/%2F``
(default: ``scripts/broker url``, the test node of ``$AMQPBASE_BROKER_DIR``).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import List, Optional
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

import fuzz  # noqa: E402
import fuzz_scenario  # noqa: E402

from amqpbase.adapters.select import IOLoop, SelectConnection  # noqa: E402


class RecordingRelay:
    """A loopback TCP relay to ``target`` for ONE client connection; keeps every byte the
    target sends in :attr:`recorded`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.recorded = bytearray()
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def snapshot(self) -> bytes:
        with self.lock:
            return bytes(self.recorded)

    def _serve(self) -> None:
        client, _ = self.listener.accept()
        self.listener.close()
        upstream = socket.create_connection(self.target)
        threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
        self._pump(upstream, client, True)

    def _pump(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if record:
                    with self.lock:
                        self.recorded += data
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def capture(url: str, frame_max: int, timeout: float = 20.0) -> bytes:
    """Run the scenario once through a relay; return the broker's bytes up to its end."""
    parts = urlsplit(url)
    relay = RecordingRelay((parts.hostname or "127.0.0.1", parts.port or 5672))
    scenario = fuzz_scenario.Scenario()
    ioloop = IOLoop()
    errors: List[BaseException] = []
    recording: List[bytes] = []

    def check() -> None:
        if scenario.done:
            recording.append(relay.snapshot())
            connection.close()
        elif not errors:
            ioloop.call_later(0.01, check)

    def fail(_connection: object, error: BaseException) -> None:
        errors.append(error)
        ioloop.stop()

    connection = SelectConnection(
        fuzz_scenario.scenario_params(frame_max, port=relay.port),
        on_open_callback=scenario.on_open,
        on_open_error_callback=fail,
        on_close_callback=lambda _c, _r: ioloop.stop(),
        custom_ioloop=ioloop,
    )
    ioloop.call_later(0, check)
    ioloop.call_later(timeout, lambda: fail(connection, TimeoutError("scenario not done")))
    ioloop.start()
    ioloop.close()
    if errors or not recording:
        raise SystemExit(f"capture failed at phase {scenario.phase}: {errors!r}")
    messages = len(fuzz_scenario.MESSAGES)
    if scenario.returns != 1 or scenario.deliveries != messages or not scenario.got:
        raise SystemExit(f"unexpected session: returns={scenario.returns} "
                         f"deliveries={scenario.deliveries} got={scenario.got!r}")
    return recording[0]


def broker_url() -> str:
    out = subprocess.run(["bash", str(REPO / "scripts" / "broker"), "url"], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=None, help="AMQP URL (default: scripts/broker url)")
    parser.add_argument("--out", type=Path, default=fuzz.CORPUS)
    parser.add_argument("--frame-max", type=int, action="append", default=None)
    args = parser.parse_args(argv)
    url = args.url or broker_url()
    args.out.mkdir(parents=True, exist_ok=True)
    for frame_max in args.frame_max or [4096, 131072]:
        stream = capture(url, frame_max)
        path = args.out / f"session.fmax{frame_max}.bin"
        path.write_bytes(stream)
        # The recording must replay: the same scenario over memory reaches its end.
        outcome = fuzz.run_connection(stream, frame_max, [stream], fuzz.LoggedExceptions())
        print(f"{path}: {len(stream)} bytes, {len(fuzz.split_frames(stream))} frames, "
              f"replay: {outcome}")
        if outcome != "done-then-eof":
            raise SystemExit(f"{path} does not replay to the end of the scenario")
    return 0


if __name__ == "__main__":
    sys.exit(main())
