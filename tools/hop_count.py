"""Count the Python calls of one publish and of one delivery through the core (issue 11).

Runs the real ``Connection`` and ``Channel`` on the in-memory adapter of the unit tests
(``tests/unit/harness.py``) and records, with ``sys.setprofile``, every Python function entered:

- publish: from ``channel.basic_publish(...)`` (a cache hit: the second publish to the same
  exchange and routing key) to the adapter's ``_adapter_emit_data``, both included;
- delivery: from the adapter's up-call ``_on_data_available(bytes)`` carrying one Basic.Deliver
  with its header and body (the consumer's second: steady state), to the consumer callback,
  both included.

    .venv/bin/python tools/hop_count.py          # prints both chains, one function a line

C functions (struct packs, dict lookups) are not counted: a hop is a Python frame.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "unit"))

from harness import open_connection  # noqa: E402

from amqpbase import frame, spec  # noqa: E402


def record(action: Any, stop_name: str) -> List[str]:
    """Run ``action()`` under a profiler; the Python calls until ``stop_name`` is entered."""
    calls: List[str] = []
    done = False

    def profiler(frame_: Any, event: str, _arg: Any) -> None:
        nonlocal done
        if done or event != "call":
            return
        code = frame_.f_code
        calls.append(f"{Path(code.co_filename).name}:{code.co_name}")
        if code.co_name == stop_name:
            done = True

    sys.setprofile(profiler)
    try:
        action()
    finally:
        sys.setprofile(None)
    # the first entry is the lambda that started the action
    return calls[1:]


def main() -> int:
    connection, broker = open_connection()
    channel = broker.open_channel(1)
    channel.basic_publish("", "q", b"warm the cache")
    publish = record(lambda: channel.basic_publish("", "q", b"x" * 64), "_adapter_emit_data")

    def on_message(*_args: Any) -> None:
        return None

    channel.basic_consume("q", on_message, auto_ack=True, consumer_tag="ctag")
    broker.send(1, spec.Basic.ConsumeOk(consumer_tag="ctag"))
    data = b"".join(bytes(c) for c in frame.encode_content_frames(
        1, spec.Basic.Deliver("ctag", 1, False, "", "q"), None, b"x" * 64, 131072))
    broker.send_raw(data)  # the first delivery of a consumer builds the decoder's template
    delivery = record(lambda: broker.send_raw(data), "on_message")
    # start at the up-call (the harness's own helpers before it are not the library's)
    delivery = delivery[[c.endswith(":_on_data_available") for c in delivery].index(True):]
    for name, chain in (("publish", publish), ("delivery", delivery)):
        print(f"{name}: {len(chain)} Python calls")
        for call in chain:
            print(f"    {call}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
