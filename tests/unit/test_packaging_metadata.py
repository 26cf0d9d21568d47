"""Install-time hygiene of pyproject.toml: no deprecation warning from setuptools at install.

setuptools 77 deprecated the table form ``license = { text = ... }`` (a warning at every
build/install); the SPDX string form needs setuptools >= 77 in the build requirements, or an
older setuptools would reject it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[2]


def test_license_is_an_spdx_string_and_setuptools_is_new_enough() -> None:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert data["project"]["license"] == "MIT"
    (requirement,) = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    match = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", requirement)
    assert match is not None and int(match.group(1)) >= 77, requirement
