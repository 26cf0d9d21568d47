"""Count private names used across object or module boundaries (issue 11's ownership metric).

A *private access* is ``obj._name`` (one leading underscore, not a dunder) where ``obj`` is not
``self``, ``cls``, ``super()`` or a class defined in the same module, or ``from module import _name`` from another module. Accesses
to a name defined by the same module through a local alias are counted too: the rule is "no
module touches another object's privates", and the AST cannot tell whose object ``obj`` is.

    python tools/private_access.py [PATH ...]      # default: amqpbase adapters
    python tools/private_access.py --list tests    # every access, file:line

Prints the count per file and the total; ``--list`` prints each access.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Iterator, List, Tuple

OWN = {"self", "cls"}


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def accesses(tree: ast.AST) -> Iterator[Tuple[int, str]]:
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
            yield node.lineno, f"{ast.unparse(value)}.{node.attr}"
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if is_private(alias.name):
                    yield node.lineno, f"from {node.module} import {alias.name}"


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["amqpbase", "adapters"])
    parser.add_argument("--list", action="store_true", help="print every access")
    args = parser.parse_args(argv)
    total = 0
    for root in args.paths:
        files = [Path(root)] if root.endswith(".py") else sorted(Path(root).rglob("*.py"))
        for path in files:
            found = list(accesses(ast.parse(path.read_text(), str(path))))
            if not found:
                continue
            total += len(found)
            print(f"{len(found):5d}  {path}")
            if args.list:
                for line, text in found:
                    print(f"         {path}:{line}: {text}")
    print(f"{total:5d}  total")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
