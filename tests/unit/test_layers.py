"""The import direction of the whole package (issue 11), checked on the source's AST.

Imports go one way, down: adapters -> facades (connection, channel, link) -> protocol
machines -> configuration values -> wire -> codec (spec, fieldtable) -> exceptions. A module
may import modules of its own layer or below, never above: every ``import`` counts, including
those inside functions and under ``TYPE_CHECKING``. Among the adapters, the shared transport
knows no loop and no loop knows another. Every module must be placed in a layer, so a new
module is a decision, not an accident. (``test_wire_imports.py`` holds the finer rules inside
the wire package.)
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]

#: Lowest first. A module name matches an entry exactly or, for "x.*", anything under x.
LAYERS: List[Tuple[str, Tuple[str, ...]]] = [
    ("exceptions", ("amqpbase.exceptions",)),
    ("codec", ("amqpbase.amqp_object", "amqpbase.fieldtable", "amqpbase.spec",
               "amqpbase.delivery_mode", "amqpbase.exchange_type")),
    ("wire", ("amqpbase.wire", "amqpbase.wire.*", "amqpbase.frame")),
    ("configuration", ("amqpbase.credentials", "amqpbase._amqp_url", "amqpbase.instrument",
                       "amqpbase.parameters", "amqpbase.streams")),
    ("protocol", ("amqpbase.protocol", "amqpbase.protocol.*")),
    ("facades", ("amqpbase._callbacks", "amqpbase._channel_args", "amqpbase.pacing", "amqpbase.link",
                 "amqpbase.metrics", "amqpbase.tracing",
                 "amqpbase.channel", "amqpbase.connection", "amqpbase.connection_state",
                 "amqpbase.connection_workflow", "amqpbase.recovery", "amqpbase")),
    ("shared transport", ("amqpbase.adapters", "amqpbase.adapters._transport",
                          "amqpbase.adapters._transport.*",
                          # pika's import path for the workflow: a re-export of a facade
                          "amqpbase.adapters.utils", "amqpbase.adapters.utils.*")),
    # The awaitable API: loop-neutral over asyncio, used by the asyncio-based loops.
    ("awaitable flavour", ("amqpbase.adapters._awaitable", "amqpbase.adapters._awaitable.*")),
    ("loops", ("amqpbase.adapters.select", "amqpbase.adapters.select.*",
               "amqpbase.adapters.tornado", "amqpbase.adapters.tornado.*",
               "amqpbase.adapters.asyncio", "amqpbase.adapters.asyncio.*",
               "amqpbase.adapters.twisted", "amqpbase.adapters.twisted.*")),
    # BlockingConnection is built on the select adapter's public API.
    ("over a loop", ("amqpbase.adapters.blocking", "amqpbase.adapters.blocking.*")),
    # The load tool (perf/, issue 15) uses every flavour; nothing imports it.
    ("tools", ("amqpbase.perf", "amqpbase.perf.*")),
]
LOOPS = ("amqpbase.adapters.select", "amqpbase.adapters.tornado", "amqpbase.adapters.asyncio",
         "amqpbase.adapters.twisted")


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of ``module``; KeyError when it has none."""
    for index, (_name, patterns) in enumerate(LAYERS):
        for pattern in patterns:
            if module == pattern or (pattern.endswith(".*") and
                                     module.startswith(pattern[:-1])):
                return index
    raise KeyError(module)


def package_modules() -> Dict[str, Path]:
    """Every module of the installed package, by dotted name (adapters/ is amqpbase.adapters)."""
    modules: Dict[str, Path] = {}
    for root, package in ((REPO / "amqpbase", "amqpbase"), (REPO / "adapters", "amqpbase.adapters"),
                          (REPO / "perf", "amqpbase.perf")):
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def imported_modules(
    module: str, path: Path, known: Dict[str, Path]
) -> Iterator[Tuple[int, str]]:
    """(line, absolute module) of each module ``path`` imports, anywhere in it: for
    ``from pkg import name``, ``pkg.name`` when that is a module of ``known``, else ``pkg``."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                yield node.lineno, submodule if submodule in known else target


def violations(modules: Dict[str, Path]) -> List[str]:
    found: List[str] = []
    for module, path in sorted(modules.items()):
        own = layer_of(module)
        own_loop = next((loop for loop in LOOPS if module.startswith(loop)), None)
        for line, target in imported_modules(module, path, modules):
            if target not in modules:
                continue  # outside the package
            theirs = layer_of(target)
            where = f"{path.name}:{line}: {module} ({LAYERS[own][0]}) imports "
            if theirs > own:
                found.append(where + f"{target} ({LAYERS[theirs][0]}), a layer above")
            target_loop = next((loop for loop in LOOPS if target.startswith(loop)), None)
            if own_loop and target_loop and own_loop != target_loop:
                found.append(where + f"{target}, another loop's adapter")
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = []
    for module in package_modules():
        try:
            layer_of(module)
        except KeyError:
            unplaced.append(module)
    assert not unplaced, f"place these modules in LAYERS: {unplaced}"


def test_imports_go_one_way_down() -> None:
    assert violations(package_modules()) == []


@pytest.mark.parametrize(
    "module, source, expected",
    [
        ("amqpbase.wire.encode", "from amqpbase.protocol import seams\n", "a layer above"),
        ("amqpbase.protocol.channel_machine", "from amqpbase import channel\n", "a layer above"),
        ("amqpbase.protocol.channel_machine",
         "def f():\n    from amqpbase._callbacks import invoke\n", "a layer above"),
        ("amqpbase.adapters._transport.queue", "from ..select import loop\n", "a layer above"),
        ("amqpbase.adapters.select.loop", "from amqpbase.adapters.twisted import loop\n",
         "another loop's adapter"),
    ],
)
def test_the_check_catches_an_upward_import(
    tmp_path: Path, module: str, source: str, expected: str
) -> None:
    modules = package_modules()
    planted = tmp_path / "planted.py"
    planted.write_text(source)
    modules[module] = planted
    assert any(expected in problem for problem in violations(modules))
