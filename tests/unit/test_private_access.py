"""tools/private_access.py: the hook-contract list matches the package, the tool tells hook
calls from private accesses, and the tests reach into no privates but the one kept on purpose.

Owns: checks of the tool and of the tests' own count. Must not: count the library's accesses
(that metric is the issue's, reported by the tool, not gated here).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import List, Tuple

from amqpbase.connection import ADAPTER_HOOKS, WORKFLOW_HOOKS, Connection

REPO = Path(__file__).resolve().parents[2]

#: Adapter -> base up-calls (docs/internals.md, "The hook contract").
UP_CALLS = {
    "_on_stream_connected",
    "_on_data_available",
    "_on_stream_terminated",
    "_on_write_buffer_drained",
}

#: The private names tests may still use, each with its reason.
ALLOWED_IN_TESTS = {
    # pika 1.x's own spelling of the "not given" marker; the test checks it is exposed so.
    "ConnectionParameters._DEFAULT",
}


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("private_access", REPO / "tools" /
                                                  "private_access.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("private_access", module)
    spec.loader.exec_module(module)
    return module


def _split(source: str) -> Tuple[List[str], List[str]]:
    tool = _tool()
    private: List[str] = []
    hooks: List[str] = []
    for _line, text, name in tool.accesses(ast.parse(source)):
        (hooks if name in tool.HOOK_CONTRACT else private).append(text)
    return private, hooks


def test_hook_contract_is_the_connections() -> None:
    assert _tool().HOOK_CONTRACT == ADAPTER_HOOKS | WORKFLOW_HOOKS | UP_CALLS
    for name in UP_CALLS:
        assert inspect.isfunction(getattr(Connection, name)), name


def test_hook_calls_are_counted_apart_from_private_accesses() -> None:
    private, hooks = _split(
        "conn._adapter_emit_data(b'')\n"
        "conn._on_data_available(b'')\n"
        "Conn._workflow_loop()\n"
        "conn._machine.state\n"
        "self._own\n"
        "from amqpbase.x import _hidden\n"
    )
    assert hooks == ["conn._adapter_emit_data", "conn._on_data_available",
                     "Conn._workflow_loop"]
    assert sorted(private) == ["conn._machine", "from amqpbase.x import _hidden"]


def test_tests_use_no_privates_but_the_hook_contract() -> None:
    tool = _tool()
    found = set()
    for path in sorted((REPO / "tests").rglob("*.py")):
        private, _hooks = tool.scan(path)
        found |= {f"{path.relative_to(REPO)}:{line}: {text}" for line, text in private
                  if text not in ALLOWED_IN_TESTS}
    assert not found, "\n".join(sorted(found))
