"""The code examples in the user docs work as printed.

Every ```python block in the user guides (``docs/guide-*.md``) and ``docs/porting-from-pika.md``
must compile.
A block preceded by the line ``<!-- run -->`` (blank lines in between are allowed) is also run
as a program against the real broker (the session ``broker`` fixture): in a subprocess of this
interpreter, with ``AMQP_URL`` set to the broker's URL, in a scratch directory, with a 30 s
timeout. It must exit with status 0 and must not print a traceback (amqpbase logs an exception
raised inside a callback instead of propagating it, so a broken callback would otherwise go
unnoticed).

Only top-level fences (```` ``` ```` at the start of a line) are recognised; the docs do not
nest code blocks.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, List, NamedTuple, Union

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = tuple(
    REPO / "docs" / name
    for name in ("guide-select.md", "guide-tornado.md", "guide-asyncio.md", "guide-twisted.md",
                 "porting-from-pika.md", "streams.md")
)
RUN_MARKER = "<!-- run -->"
RUN_TIMEOUT = 30.0
#: The guide demonstrates every section with a program that runs; keep it that way.
MIN_RUN_BLOCKS_IN_GUIDE = 10

_FENCE = re.compile(r"^```(?P<info>[^`]*)$")


class Block(NamedTuple):
    doc: Path
    line: int  # 1-based line of the opening fence
    language: str
    source: str
    run: bool

    @property
    def name(self) -> str:
        return f"{self.doc.name}:{self.line}"


def extract_blocks(doc: Path) -> List[Block]:
    """Every fenced block of ``doc``, with whether a run marker precedes it."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks: List[Block] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        start = index
        end = start + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{doc.name}:{start + 1}: code fence is never closed")
        previous = start - 1
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        marked = previous >= 0 and lines[previous].strip() == RUN_MARKER
        blocks.append(
            Block(
                doc=doc,
                line=start + 1,
                language=match.group("info").strip().split(" ")[0],
                source="\n".join(lines[start + 1 : end]) + "\n",
                run=marked,
            )
        )
        index = end + 1
    return blocks


def _all_blocks() -> List[Block]:
    return [block for doc in DOCS for block in extract_blocks(doc)]


BLOCKS = _all_blocks()
PYTHON_BLOCKS = [block for block in BLOCKS if block.language == "python"]
RUN_BLOCKS = [block for block in PYTHON_BLOCKS if block.run]


def test_docs_have_python_examples() -> None:
    for doc in DOCS:
        assert any(block.doc == doc for block in PYTHON_BLOCKS), f"no python block in {doc.name}"
    guide_runs = [block for block in RUN_BLOCKS if block.doc.name == "guide-select.md"]
    assert len(guide_runs) >= MIN_RUN_BLOCKS_IN_GUIDE, [block.name for block in guide_runs]


def test_every_run_marker_precedes_a_python_block() -> None:
    """A marker in front of anything but a python block (a typo, a moved paragraph) would
    silently stop an example from running."""
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        markers = sum(1 for line in lines if line.strip() == RUN_MARKER)
        marked = [block for block in BLOCKS if block.doc == doc and block.run]
        assert all(block.language == "python" for block in marked), [b.name for b in marked]
        assert markers == len(marked), f"{doc.name}: {markers} markers, {len(marked)} blocks"


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[block.name for block in PYTHON_BLOCKS])
def test_example_compiles(block: Block) -> None:
    compile(block.source, block.name, "exec")


def _text(output: Union[str, bytes, None]) -> str:
    """Captured output of a timed-out process (bytes even with ``text=True``, or None)."""
    if isinstance(output, bytes):
        return output.decode("utf-8", errors="replace")
    return output or ""


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[block.name for block in RUN_BLOCKS])
def test_example_runs_against_the_broker(block: Block, broker: Any, tmp_path: Path) -> None:
    script = tmp_path / (block.name.replace(".md:", "_line") + ".py")
    script.write_text(block.source, encoding="utf-8")
    env = dict(os.environ)
    env["AMQP_URL"] = broker.url
    env.pop("PYTHONSTARTUP", None)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(
            f"{block.name} did not finish within {RUN_TIMEOUT:.0f} s\n"
            f"--- stdout ---\n{_text(expired.stdout)}\n--- stderr ---\n{_text(expired.stderr)}"
        )
    elapsed = time.monotonic() - started
    report = (
        f"{block.name} (exit {proc.returncode}, {elapsed:.2f} s)\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )
    assert proc.returncode == 0, report
    assert "Traceback" not in proc.stderr, report
