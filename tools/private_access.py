"""Count private names used across object or module boundaries (issue 11's ownership metric).

A *private access* is ``obj._name`` (one leading underscore, not a dunder) where ``obj`` is not
``self``, ``cls``, ``super()`` or a class defined in the same module, or ``from module import _name`` from another module. Accesses
to a name defined by the same module through a local alias are counted too: the rule is "no
module touches another object's privates", and the AST cannot tell whose object ``obj`` is.

The base ``Connection``'s hook contract (docs/internals.md, "The hook contract") is protected
by name but meant to be called across that boundary: the ``_adapter_*`` down-calls, the
``_on_*`` up-calls and the workflow classmethods (:data:`HOOK_CONTRACT`). Those are counted
apart, as *hook-contract calls*, never as private accesses.

    python tools/private_access.py [PATH ...]      # default: amqpbase adapters
    python tools/private_access.py --list tests    # every access, file:line

Prints, per file, the private accesses and hook-contract calls, then the totals
("N private accesses, M hook-contract calls"); ``--list`` prints each one, tagged.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Iterator, List, Tuple

OWN = {"self", "cls"}

#: The hook contract of ``amqpbase.connection.Connection``: its ``ADAPTER_HOOKS`` (down-calls,
#: base -> adapter), the up-calls (adapter -> base) and its ``WORKFLOW_HOOKS``. Kept literal
#: so the tool runs without the package installed; tests/unit/test_private_access.py checks
#: it against the package.
HOOK_CONTRACT = frozenset({
    "_adapter_connect_stream",
    "_adapter_disconnect_stream",
    "_adapter_emit_data",
    "_adapter_get_write_buffer_size",
    "_adapter_call_later",
    "_adapter_remove_timeout",
    "_adapter_add_callback_threadsafe",
    "_on_stream_connected",
    "_on_data_available",
    "_on_stream_terminated",
    "_on_write_buffer_drained",
    "_workflow_loop",
    "_create_for_workflow",
})


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def accesses(tree: ast.AST) -> Iterator[Tuple[int, str, str]]:
    """Yield ``(line, text, name)`` for each access to a private ``name`` (see the module
    docstring), hook-contract names included."""
    # A class's privates named through the class itself, in the module that defines it
    # (a dispatch table built after the class body), are the class's own.
    own = OWN | {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            value = node.value
            if isinstance(value, ast.Name) and value.id in own:
                continue
            if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                    and value.func.id == "super"):
                continue
            yield node.lineno, f"{ast.unparse(value)}.{node.attr}", node.attr
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if is_private(alias.name):
                    yield node.lineno, f"from {node.module} import {alias.name}", alias.name


def scan(path: Path) -> Tuple[List[Tuple[int, str]], List[Tuple[int, str]]]:
    """``(private accesses, hook-contract calls)`` of one file, each ``(line, text)`` sorted
    by line."""
    private: List[Tuple[int, str]] = []
    hooks: List[Tuple[int, str]] = []
    for line, text, name in accesses(ast.parse(path.read_text(), str(path))):
        (hooks if name in HOOK_CONTRACT else private).append((line, text))
    return sorted(private), sorted(hooks)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["amqpbase", "adapters"])
    parser.add_argument("--list", action="store_true", help="print every access")
    args = parser.parse_args(argv)
    private_total = hook_total = 0
    for root in args.paths:
        files = [Path(root)] if root.endswith(".py") else sorted(Path(root).rglob("*.py"))
        for path in files:
            private, hooks = scan(path)
            if not private and not hooks:
                continue
            private_total += len(private)
            hook_total += len(hooks)
            print(f"{len(private):5d} private {len(hooks):5d} hook-contract  {path}")
            if args.list:
                for line, text in private:
                    print(f"         {path}:{line}: {text}")
                for line, text in hooks:
                    print(f"         {path}:{line}: {text}  [hook contract]")
    print(f"{private_total} private accesses, {hook_total} hook-contract calls")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
