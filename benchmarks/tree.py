"""Import amqpbase from a chosen source tree, provably (the worker side of an A/B run).

An A/B run (``python -m benchmarks.run --ab REV``) measures two copies of the library with the
same worker. The repository's ``adapters/`` folder is installed as ``amqpbase.adapters`` (the
package-dir mapping in pyproject.toml), and the editable install in ``.venv`` resolves that
name with a meta-path finder of its own, pinned to the tree pip installed. So putting another
tree first on ``sys.path`` is not enough: ``amqpbase`` would come from that tree and
``amqpbase.adapters`` still from the installed one. :func:`use` puts a finder in front of every
other that maps ``amqpbase`` to ``<tree>/amqpbase`` and ``amqpbase.adapters`` to
``<tree>/adapters`` (submodules follow their parent's ``__path__``), imports both and checks
where they came from; :func:`report` lists every ``amqpbase*`` module loaded afterwards and
those that came from elsewhere.

This module owns only the import of the library under test. It must not import amqpbase at
module level (the worker calls :func:`use` before anything imports it) nor depend on anything
outside the standard library.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any, Dict, List, Optional, Sequence

PACKAGE = "amqpbase"
ADAPTERS = "amqpbase.adapters"
# Where each mapped package lives inside a source tree (pyproject.toml's package-dir).
PACKAGE_DIRS = {PACKAGE: "amqpbase", ADAPTERS: "adapters"}


class TreeError(RuntimeError):
    """amqpbase was (or would be) imported from outside the intended tree."""


class TreeFinder(importlib.abc.MetaPathFinder):
    """Resolve ``amqpbase`` and everything under it from one source tree only."""

    def __init__(self, root: str) -> None:
        self.root = root

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None,
                  target: Optional[ModuleType] = None) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname in PACKAGE_DIRS:
            folder = os.path.join(self.root, PACKAGE_DIRS[fullname])
            init = os.path.join(folder, "__init__.py")
            if not os.path.isfile(init):
                return None  # not in this tree: report() will name whoever supplied it
            return importlib.util.spec_from_file_location(
                fullname, init, submodule_search_locations=[folder])
        if fullname.startswith(PACKAGE + "."):
            # A submodule: the parent package is ours, so its __path__ (``path``) is in the
            # tree. Searched here, not left to later finders, because the editable install's
            # finder resolves children of its mapped packages from its own tree.
            return importlib.machinery.PathFinder.find_spec(fullname, path)
        return None


def _under(path: Optional[str], folder: str) -> bool:
    if not path:
        return False
    real = os.path.realpath(path)
    return real == folder or real.startswith(folder + os.sep)


def use(root: str) -> Dict[str, str]:
    """Install the finder for ``root``, import amqpbase and amqpbase.adapters, check them.

    Returns their ``__file__``s. Raises :class:`TreeError` when amqpbase is already imported
    or either package did not come from ``root``.
    """
    root = os.path.realpath(root)
    loaded = [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]
    if loaded:
        raise TreeError(f"amqpbase is already imported ({', '.join(sorted(loaded))}): "
                        "the tree must be chosen before the first import")
    sys.meta_path.insert(0, TreeFinder(root))
    files = {}
    for name, folder in PACKAGE_DIRS.items():
        module = importlib.import_module(name)
        file = getattr(module, "__file__", None)
        if not _under(file, os.path.join(root, folder)):
            raise TreeError(f"{name} was imported from {file}, not from {root}/{folder}")
        files[name] = os.path.realpath(str(file))
    return files


def report(root: Optional[str]) -> Dict[str, Any]:
    """Where the loaded amqpbase modules came from; ``foreign`` lists any outside ``root``.

    With ``root`` None (a plain run) nothing is foreign: the report only says what was used.
    """
    real_root = os.path.realpath(root) if root else None
    files: Dict[str, Optional[str]] = {}
    foreign: List[str] = []
    for name, module in sorted(sys.modules.items()):
        if not (name == PACKAGE or name.startswith(PACKAGE + ".")) or module is None:
            continue
        file = getattr(module, "__file__", None)
        files[name] = os.path.realpath(file) if file else None
        if real_root is None:
            continue
        folder = PACKAGE_DIRS[ADAPTERS if name == ADAPTERS or name.startswith(ADAPTERS + ".")
                              else PACKAGE]
        if not _under(file, os.path.join(real_root, folder)):
            foreign.append(f"{name} ({file})")
    return {"root": real_root, "amqpbase_file": files.get(PACKAGE),
            "adapters_file": files.get(ADAPTERS), "modules": len(files), "foreign": foreign}
