"""The wire package's import rule (issue 11), checked on the source's AST.

Every ``amqpbase/wire/*.py`` imports only the standard library, ``amqpbase.spec``,
``fieldtable``, ``exceptions``, ``amqp_object`` and other wire modules; all its imports come
before its first other statement (none at a module's bottom, none inside a function); no
private name crosses a module boundary; and the graph of imports between wire modules has
no cycle. The checker is also run on small made-up packages, so each rule is seen to fail.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

WIRE = Path(__file__).resolve().parents[2] / "amqpbase" / "wire"
PACKAGE = "amqpbase.wire"
ALLOWED_CORE = {"amqpbase.spec", "amqpbase.fieldtable", "amqpbase.exceptions",
                "amqpbase.amqp_object"}


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` in ``amqpbase.wire.<module>`` names."""
    if not node.level:
        return node.module or ""
    base = PACKAGE.split(".")
    if module == "__init__":
        base = base + ["__init__"]
    parts = base[: len(base) - node.level + 1] if node.level > 1 else base
    return ".".join(parts + ([node.module] if node.module else []))


def import_problems(sources: Dict[str, str]) -> List[str]:
    """Everything ``sources`` (wire module name -> its source text) does against the rule."""
    problems: List[str] = []
    edges: Dict[str, Set[str]] = {name: set() for name in sources}

    def target(name: str, imported: str, where: str) -> None:
        """Record ``imported`` (an absolute module) imported by wire module ``name``."""
        if imported == PACKAGE or imported.startswith(PACKAGE + "."):
            other = imported[len(PACKAGE) + 1 :] or "__init__"
            if other not in sources:
                problems.append(f"{where}: imports unknown wire module {imported}")
            else:
                edges[name].add(other)
        elif imported.split(".")[0] == "amqpbase":
            if imported not in ALLOWED_CORE:
                problems.append(f"{where}: imports {imported} (wire may import only "
                                f"{sorted(ALLOWED_CORE)} and wire modules)")
        elif imported.split(".")[0] not in sys.stdlib_module_names | {"__future__"}:
            problems.append(f"{where}: imports third-party {imported}")

    for name, text in sources.items():
        tree = ast.parse(text)
        modules: Set[str] = set()  # local names bound to wire modules
        seen_other = False
        for index, statement in enumerate(tree.body):
            is_import = isinstance(statement, (ast.Import, ast.ImportFrom))
            is_docstring = (index == 0 and isinstance(statement, ast.Expr)
                            and isinstance(statement.value, ast.Constant))
            if is_import and seen_other:
                problems.append(f"{name}:{statement.lineno}: import after other statements")
            if not is_import and not is_docstring:
                seen_other = True
        for node in ast.walk(tree):
            where = f"{name}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, (ast.Import, ast.ImportFrom)) and node not in tree.body:
                problems.append(f"{where}: import inside a function or block")
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target(name, alias.name, where)
                    if alias.name.startswith(PACKAGE + "."):
                        modules.add(alias.asname or alias.name)
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(name, node)
                for alias in node.names:
                    if alias.name.startswith("_"):
                        problems.append(f"{where}: imports private name {alias.name}")
                    submodule = f"{source}.{alias.name}"
                    if source in {PACKAGE, "amqpbase"} and (
                        submodule in ALLOWED_CORE
                        or submodule.startswith(PACKAGE + ".")
                        or source == "amqpbase"
                    ):
                        target(name, submodule, where)  # a module imported by name
                        if source == PACKAGE:
                            modules.add(alias.asname or alias.name)
                    else:
                        target(name, source, where)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in modules):
                problems.append(f"{name}:{node.lineno}: uses private "
                                f"{node.value.id}.{node.attr} of another module")

    cycle = _find_cycle(edges)
    if cycle:
        problems.append("import cycle: " + " -> ".join(cycle))
    return problems


def _find_cycle(edges: Dict[str, Set[str]]) -> Optional[List[str]]:
    """One cycle of the directed graph ``edges`` (as a path back to its start), or None."""
    done: Set[str] = set()
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for following in sorted(edges.get(node, ())):
            found = visit(following)
            if found:
                return found
        path.pop()
        done.add(node)
        return None

    for start in sorted(edges):
        found = visit(start)
        if found:
            return found
    return None


def wire_sources() -> Dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(WIRE.glob("*.py"))}


def test_wire_package_follows_the_import_rule() -> None:
    sources = wire_sources()
    assert {"__init__", "formats", "encode", "frames", "decoder", "delivery"} <= set(sources)
    assert import_problems(sources) == []


def test_frame_py_is_only_a_re_export() -> None:
    tree = ast.parse((WIRE.parent / "frame.py").read_text(encoding="utf-8"))
    kinds = {type(statement).__name__ for statement in tree.body[1:]}
    assert kinds <= {"ImportFrom", "Assign"}, kinds  # imports and __all__, no code
    assert all(isinstance(s.targets[0], ast.Name) and s.targets[0].id == "__all__"
               for s in tree.body if isinstance(s, ast.Assign))


DOC = '"""doc"""\n'


@pytest.mark.parametrize("sources, expected", [
    (  # a cycle through three modules, spelled three ways
        {"a": DOC + "from amqpbase.wire import b\n",
         "b": DOC + "from amqpbase.wire.c import X\n",
         "c": DOC + "from . import a\n"},
        "import cycle: a -> b -> c -> a",
    ),
    ({"a": DOC + "import amqpbase.wire.a\n"}, "import cycle: a -> a"),
    ({"a": DOC + "from amqpbase import connection\n"}, "imports amqpbase.connection"),
    ({"a": DOC + "from amqpbase.channel import Channel\n"}, "imports amqpbase.channel"),
    ({"a": DOC + "import twisted\n"}, "imports third-party twisted"),
    ({"a": DOC + "X = 1\nimport struct\n"}, "a:3: import after other statements"),
    ({"a": DOC + "def f() -> None:\n    import struct\n"}, "import inside a function"),
    ({"a": DOC + "from amqpbase.wire.b import _S\n", "b": DOC}, "imports private name _S"),
    ({"a": DOC + "from amqpbase.wire import b\nY = b._S\n", "b": DOC},
     "uses private b._S of another module"),
])
def test_the_checker_refuses(sources: Dict[str, str], expected: str) -> None:
    problems = import_problems(sources)
    assert any(expected in problem for problem in problems), problems


def test_the_checker_accepts_a_one_way_package() -> None:
    assert import_problems({
        "a": DOC + "import struct\nfrom amqpbase import spec\nfrom amqpbase.wire import b\n",
        "b": DOC + "from amqpbase.exceptions import ProtocolSyntaxError\n"
                   "from amqpbase.wire.c import X\n",
        "c": DOC + "from __future__ import annotations\nfrom amqpbase.fieldtable import Y\n",
    }) == []


def test_frame_py_re_exports_the_wire_objects() -> None:
    """``amqpbase.frame`` (pika's ``pika.frame``) gives the wire package's own objects under
    every name amqpbase's modules, tests and scripts import from it."""
    from amqpbase import frame
    from amqpbase.wire import decoder, encode, formats, frames

    owners = {
        frames: ["Method", "Header", "Body", "Heartbeat", "ProtocolHeader", "Delivery", "Frame"],
        encode: ["encode_method_frame", "encode_content_frames", "encode_publish_heads"],
        decoder: ["FrameDecoder", "BATCH_SIZE"],
        formats: ["PROTOCOL_HEADER", "HEARTBEAT_FRAME", "FRAME_END"],
    }
    names = [name for group in owners.values() for name in group]
    assert sorted(frame.__all__) == sorted(names)
    for module, group in owners.items():
        for name in group:
            assert getattr(frame, name) is getattr(module, name), name
