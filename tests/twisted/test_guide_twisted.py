"""The examples of ``docs/guide-twisted.md`` work as printed: every python block compiles and
every block marked ``<!-- run -->`` runs against the test broker, with the rules and helpers of
``tests/unit/test_docs_examples.py`` (exit status 0 within 30 s, no traceback). Once that
module lists ``guide-twisted.md`` in its ``DOCS``, this file is redundant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from unit import test_docs_examples as docs_examples
from unit.test_docs_examples import REPO, Block, extract_blocks  # tests/ is on sys.path

GUIDE = REPO / "docs" / "guide-twisted.md"
BLOCKS = [block for block in extract_blocks(GUIDE) if block.language == "python"]
RUN_BLOCKS = [block for block in BLOCKS if block.run]


def test_the_guide_runs_an_example_in_every_section() -> None:
    assert len(RUN_BLOCKS) >= 8, [block.name for block in RUN_BLOCKS]
    lines = GUIDE.read_text(encoding="utf-8").splitlines()
    markers = sum(1 for line in lines if line.strip() == docs_examples.RUN_MARKER)
    assert markers == len(RUN_BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_guide_example_compiles(block: Block) -> None:
    compile(block.source, block.name, "exec")


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[block.name for block in RUN_BLOCKS])
def test_guide_example_runs(block: Block, broker: Any, tmp_path: Path) -> None:
    docs_examples.test_example_runs_against_the_broker(block, broker, tmp_path)
