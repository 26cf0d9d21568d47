"""docs/guarantees.md names, for every guarantee, the test that proves it: each named test
file and test function must exist, so the page cannot silently point at a renamed or deleted
test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Tuple

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "guarantees.md"

#: `path/to/test_file.py::test_name` or `path/to/test_file.py` (a whole file), and the
#: shorthand `::test_name` for another test of the file named just before it.
REFERENCE = re.compile(r"`((?:[\w/]+\.py)?)(?:::(\w+))?`")


def references() -> List[Tuple[str, str]]:
    """(test file relative to tests/, test name or "") for every reference on the page."""
    found: List[Tuple[str, str]] = []
    current = ""
    for path, name in REFERENCE.findall(PAGE.read_text()):
        if path:
            current = path
        elif not name:
            continue
        if current.endswith(".py") and (path or name) and "/" in current:
            found.append((current, name))
    return found


def test_every_test_named_by_the_guarantees_page_exists() -> None:
    refs = references()
    assert len(refs) >= 40, refs  # the page names dozens of tests; a parsing slip shows here
    missing = []
    for path, name in refs:
        # References are relative to tests/, except the few that spell out tests/ or scripts/.
        spelled_out = path.startswith(("tests/", "scripts/"))
        test_file = REPO / path if spelled_out else REPO / "tests" / path
        if not test_file.is_file():
            missing.append(f"{path} (no such file)")
        elif name and not re.search(rf"^def {name}\(", test_file.read_text(), re.M):
            missing.append(f"{path}::{name}")
    assert not missing, "docs/guarantees.md names tests that do not exist:\n" + "\n".join(missing)
