"""The base of the machines' enums: :class:`TableEnum`, an ``Enum`` hashed by identity.

The decision tables are dicts keyed by (state, input) pairs of enum members and are looked up
for every inbound frame a machine handles (a publisher confirm is one per message in
one-at-a-time confirm mode). ``enum.Enum.__hash__`` is a Python function (it hashes the
member's name), so each lookup paid two to five Python calls; members are singletons compared
by identity, so the C-level identity hash gives the same dict semantics for free.

Owns nothing else; must not import anything of amqpbase.
"""

from __future__ import annotations

import enum


class TableEnum(enum.Enum):
    """An ``Enum`` whose members hash by identity (C speed): use it for table keys."""

    __hash__ = object.__hash__
