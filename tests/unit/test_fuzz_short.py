"""The short in-suite run of ``scripts/fuzz.py`` (issue 6): the inbound path (frame decoder
plus a fresh base Connection per input, replaying the captured RabbitMQ session of
``tests/fuzz_corpus/``) on 5,000 mutated inputs with a fixed seed. The long run (at least
1,000,000 inputs) is ``nice -n 10 .venv/bin/python scripts/fuzz.py``; its figures are in
the issue's note."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fuzz.py"


@pytest.fixture(scope="module")
def fuzz() -> ModuleType:
    spec = importlib.util.spec_from_file_location("amqpbase_fuzz_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclass-free, but keep pickling/introspection sane
    spec.loader.exec_module(module)
    return module


def test_every_corpus_stream_replays_the_whole_session(fuzz: ModuleType) -> None:
    """Unmutated, each recorded broker stream drives the scenario to its end (so mutations
    reach every phase: confirms, deliveries, Return, GetOk, GetEmpty, the broker's
    Channel.Close and a second channel), and the decoder agrees with itself on it."""
    corpus = fuzz.load_corpus()
    assert len(corpus) >= 2
    for name, frame_max, stream in corpus:
        outcome = fuzz.run_connection(stream, frame_max, [stream], fuzz.LoggedExceptions())
        assert outcome == "done-then-eof", (name, outcome)
        pieces = [stream[i:i + 7] for i in range(0, len(stream), 7)]
        assert fuzz.run_decoder(stream, frame_max, pieces) == "decoder:ok"


def test_short_fuzz_run_finds_nothing(fuzz: ModuleType) -> None:
    """5,000 inputs, seed 6: no failure (no escaped exception, no unexpected exception type,
    no wrong or missing Connection.Close, no logged callback exception, no input over 1 s,
    bounded RSS), and the inputs reach deep: complete sessions, every reply code class."""
    report = fuzz.run(5000, seed=6)
    assert report.inputs == 5000
    assert report.failures == [], "\n".join(report.lines())
    outcomes = report.outcomes
    assert outcomes["done-then-eof"] > 0, outcomes
    for expected in ("open:InvalidFrameError(501)", "open:UnexpectedFrameError(505)",
                     "open:CommandInvalidError(503)", "open:ChannelNotOpenError(504)",
                     "handshake:InvalidFrameError(501)", "decoder:ok"):
        assert outcomes[expected] > 0, (expected, outcomes)
