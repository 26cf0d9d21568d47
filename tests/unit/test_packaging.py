"""The wheel ships every package under its installed name (pyproject.toml's explicit list).

The repository's ``adapters/`` folder is installed as ``amqpbase.adapters`` (and ``perf/``,
the load tool, as ``amqpbase.perf``) through ``[tool.setuptools.package-dir]``; a package
folder missing from ``packages`` would silently be left out of the wheel, so this test lists
the folders and compares.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, Set

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def setuptools_config() -> Dict[str, Any]:
    with open(REPO / "pyproject.toml", "rb") as fh:
        data = tomllib.load(fh)
    config: Dict[str, Any] = data["tool"]["setuptools"]
    return config


def _package_folders(root: str, installed_as: str) -> Set[str]:
    base = REPO / root
    names = set()
    for init in base.rglob("__init__.py"):
        if "__pycache__" in init.parts:
            continue
        relative = init.parent.relative_to(base).parts
        names.add(".".join((installed_as, *relative)))
    return names


def test_every_package_folder_is_listed(setuptools_config: Dict[str, Any]) -> None:
    expected = (_package_folders("amqpbase", "amqpbase")
                | _package_folders("adapters", "amqpbase.adapters")
                | _package_folders("perf", "amqpbase.perf"))
    listed = set(setuptools_config["packages"])
    assert expected - listed == set(), "package folders missing from [tool.setuptools].packages"
    assert listed - expected == set(), "packages listed without a folder holding __init__.py"


def test_no_top_level_adapters_package(setuptools_config: Dict[str, Any]) -> None:
    packages = setuptools_config["packages"]
    assert not [p for p in packages if p == "adapters" or p.startswith("adapters.")]


def test_package_dir_maps_adapters(setuptools_config: Dict[str, Any]) -> None:
    package_dir = setuptools_config["package-dir"]
    assert package_dir["amqpbase.adapters"] == "adapters"
    assert package_dir["amqpbase.perf"] == "perf"
    assert package_dir.get("amqpbase", "amqpbase") == "amqpbase"
    assert "adapters" not in package_dir


def test_perf_tool_console_script() -> None:
    """``amqpbase-perf`` runs the load tool's ``main`` (docs/perf-tool.md)."""
    with open(REPO / "pyproject.toml", "rb") as fh:
        scripts = tomllib.load(fh)["project"]["scripts"]
    assert scripts["amqpbase-perf"] == "amqpbase.perf.cli:main"


def test_py_typed_is_shipped(setuptools_config: Dict[str, Any]) -> None:
    assert (REPO / "amqpbase" / "py.typed").is_file()
    assert "py.typed" in setuptools_config["package-data"]["amqpbase"]


def test_mypy_checks_both_source_roots() -> None:
    with open(REPO / "pyproject.toml", "rb") as fh:
        mypy = tomllib.load(fh)["tool"]["mypy"]
    assert mypy["strict"] is True
    assert set(mypy["files"]) >= {"amqpbase", "adapters", "perf"}
