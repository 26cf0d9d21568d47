#!/usr/bin/env python3
"""Generate ``amqpbase/spec.py`` from the RabbitMQ AMQP 0-9-1 codegen JSON.

Usage::

    python tools/gen_spec.py PATH/TO/amqp-rabbitmq-0.9.1.json [OUTPUT]

``OUTPUT`` defaults to ``amqpbase/spec.py`` next to this tool. The output is a pure function
of the JSON (no timestamps, no absolute paths), so regenerating is byte-identical; the test
``tests/unit/test_spec_generated.py`` checks that.

What the generated module holds (the contract is ``docs/internals.md``, "Codec API"):

- constants, reply codes with their soft/hard class, pika's extra constants;
- one ``amqp_object.Class`` subclass per AMQP class with one ``amqp_object.Method`` subclass
  per method: pika argument names and defaults, ``INDEX``, ``NAME``, ``synchronous``,
  ``has_content``, ``valid_responses``, ``ARGUMENTS`` (``((name, domain type), ...)``, for
  introspection and the generic codec);
- straight-line ``encode``/``decode`` per method (internals.md rule 5): consecutive fixed-size
  fields (including shortstr/longstr length prefixes and bit octets) go through one
  precompiled ``struct.Struct``; no per-field dict lookups or reflection. Anything the fast
  path cannot take (a bytes shortstr, invalid UTF-8 on input, a wrong type, a truncated
  buffer) falls back to the validating generic codec in ``amqpbase.fieldtable``, which
  either succeeds with identical output or raises the precise error;
- ``BasicProperties`` (pika's argument order), ``METHODS``, ``PROPERTIES``.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import os
import struct
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

GENERATOR = "tools/gen_spec.py"

# shortstr → str losslessly: bytes that are not UTF-8 become PEP 383 escapes (fieldtable doc).
SURROGATES = '"utf-8", "surrogateescape"'

# Python keywords cannot be argument names; pika's spelling for the one AMQP 0-9-1 has.
RENAMED_ARGUMENTS = {"global": "global_qos"}

# Replies the JSON cannot express: AMQP 0-9-1 XML lists <response name="get-ok"/> and
# <response name="get-empty"/> for basic.get. Every other synchronous method is answered by
# the method named "<name>-ok" in the same class.
EXTRA_RESPONSES = {("basic", "get"): ("get-ok", "get-empty")}

#: Properties whose constructor takes pika's Enum as well as the int, stored as the int (pika
#: converts ``delivery_mode`` the same way): (properties class, property) -> Enum in spec.py.
PROPERTY_ENUMS = {("BasicProperties", "delivery_mode"): "DeliveryMode"}

# pika's constants that are not in the JSON.
EXTRA_CONSTANTS = (
    ("FRAME_HEADER_SIZE", 7, "type octet + channel short + size long"),
    ("FRAME_END_SIZE", 1, "the frame-end octet"),
    ("FRAME_MAX_SIZE", 131072, "RabbitMQ's default frame_max"),
    ("PERSISTENT_DELIVERY_MODE", 2, "BasicProperties.delivery_mode: survive a broker restart"),
    ("TRANSIENT_DELIVERY_MODE", 1, "BasicProperties.delivery_mode: not persisted"),
)

# domain type -> (struct format char of a fixed-size value or None, Python annotation)
TYPES: Dict[str, Tuple[Optional[str], str]] = {
    "bit": (None, "bool"),
    "octet": ("B", "int"),
    "short": ("H", "int"),
    "long": ("I", "int"),
    "longlong": ("Q", "int"),
    "timestamp": ("Q", "int"),
    "shortstr": (None, "str"),
    "longstr": (None, "Union[str, bytes]"),
    "table": (None, "Optional[Mapping[str, Any]]"),
}


def lit(value: Any) -> str:
    """Python literal for a default value, with double-quoted strings."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        inner = ", ".join(lit(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def wrap_tuple(prefix: str, items: Sequence[str], indent_by: int = 0) -> List[str]:
    """``prefix(items)`` on one line when it fits in 99 columns, else one item per line."""
    one = f"{prefix}({', '.join(items)}{',' if len(items) == 1 else ''})"
    if indent_by + len(one) <= 99:
        return [one]
    return [f"{prefix}("] + [f"    {item}," for item in items] + [")"]


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


# Names the generated method bodies use; an argument must not shadow them.
RESERVED = {"self", "cls", "obj", "data", "offset", "pos", "n", "flags", "pieces", "append",
            "raw", "len", "bytes", "isinstance", "encode_table", "decode_table"}


def pyname(name: str) -> str:
    name = RENAMED_ARGUMENTS.get(name, name).replace("-", "_")
    if keyword.iskeyword(name) or name in RESERVED or name.startswith(("bits", "_")):
        raise SystemExit(f"argument name {name!r} collides with generated code; rename it")
    return name


def upper(name: str) -> str:
    return name.replace("-", "_").upper()


class Field:
    """One method argument or content property."""

    def __init__(self, raw: Dict[str, Any], domains: Dict[str, str]) -> None:
        self.amqp_name = raw["name"]
        self.name = pyname(raw["name"])
        domain = raw.get("type") or raw["domain"]
        self.type = domains.get(domain, domain)
        if self.type not in TYPES:
            raise SystemExit(f"unknown domain type {self.type!r} for {self.amqp_name}")
        # A table without a default is still optional: None encodes as an empty table.
        self.required = "default-value" not in raw and self.type != "table"
        default = raw.get("default-value")
        if self.type == "table":
            default = None  # a table argument defaults to None, which encodes as empty
        self.default = default

    @property
    def annotation(self) -> str:
        ann = TYPES[self.type][1]
        if self.required and not ann.startswith("Optional["):
            ann = f"Optional[{ann}]"
        return ann


class Method:
    def __init__(self, klass: "Klass", raw: Dict[str, Any], domains: Dict[str, str]) -> None:
        self.klass = klass
        self.amqp_name = raw["name"]
        self.name = camel(raw["name"])
        self.method_id = int(raw["id"])
        self.index = (klass.id << 16) | self.method_id
        self.synchronous = bool(raw.get("synchronous", False))
        self.content = bool(raw.get("content", False))
        self.fields = [Field(f, domains) for f in raw.get("arguments", [])]
        self.responses: List[str] = []

    @property
    def qualname(self) -> str:
        return f"{self.klass.name}.{self.name}"


class Klass:
    def __init__(self, raw: Dict[str, Any], domains: Dict[str, str]) -> None:
        self.amqp_name = raw["name"]
        self.name = camel(raw["name"])
        self.id = int(raw["id"])
        self.methods = [Method(self, m, domains) for m in raw["methods"]]
        self.properties = [Field(p, domains) for p in raw.get("properties", [])]
        by_name = {m.amqp_name: m for m in self.methods}
        for m in self.methods:
            if not m.synchronous:
                continue
            names = EXTRA_RESPONSES.get((self.amqp_name, m.amqp_name), (m.amqp_name + "-ok",))
            for n in names:
                if n not in by_name:
                    raise SystemExit(f"{self.amqp_name}.{m.amqp_name}: no reply method {n!r}")
                m.responses.append(by_name[n].name)


# --------------------------------------------------------------------------------------------
# Code generation helpers
# --------------------------------------------------------------------------------------------


class Structs:
    """The module-level precompiled structs, named by format, emitted sorted."""

    def __init__(self) -> None:
        self.formats: set[str] = set()

    def get(self, fmt: str) -> str:
        self.formats.add(fmt)
        return f"_S_{fmt}"

    def emit(self) -> List[str]:
        out = []
        for fmt in sorted(self.formats, key=lambda f: (len(f), f)):
            size = struct.calcsize("!" + fmt)
            unit = "bytes" if size > 1 else "byte"
            out.append(f'_S_{fmt} = struct.Struct("!{fmt}")  # {size} {unit}')
        return out


def gen_encode(m: Method, structs: Structs) -> List[str]:
    """Straight-line encoder: prelude (str → bytes) + one join of struct packs and raw bytes."""
    head = struct.pack("!HH", m.klass.id, m.method_id)
    if not m.fields:
        return [
            "def encode(self) -> bytes:",
            f"    return {head!r}",
        ]
    # Segments: ("fixed", [(fmt_char, expr or list of bit exprs)]) or ("raw", expr)
    segments: List[Tuple[str, Any]] = []
    fixed: List[Tuple[str, Any]] = [("H", str(m.klass.id)), ("H", str(m.method_id))]
    bits: Optional[List[str]] = None
    prelude: List[str] = []

    def flush() -> None:
        nonlocal fixed
        if fixed:
            segments.append(("fixed", fixed))
        fixed = []

    for f in m.fields:
        attr = f"self.{f.name}"
        if f.type == "bit":
            # Consecutive bits share an octet, first one in the low bit (AMQP 0-9-1 4.2.5.2).
            if bits is None or len(bits) == 8:
                bits = []
                fixed.append(("B", bits))
            bits.append(attr)
            continue
        bits = None
        fmt = TYPES[f.type][0]
        if fmt is not None:
            fixed.append((fmt, attr))
        elif f.type == "shortstr":
            prelude.append(f"{f.name} = {attr}.encode()")
            fixed.append(("B", f"len({f.name})"))
            flush()
            segments.append(("raw", f.name))
        elif f.type == "longstr":
            prelude.append(f"{f.name} = {attr}")
            prelude.append(f"if isinstance({f.name}, str):")
            prelude.append(f"    {f.name} = {f.name}.encode()")
            fixed.append(("I", f"len({f.name})"))
            flush()
            segments.append(("raw", f.name))
        elif f.type == "table":
            flush()
            segments.append(("raw", f"encode_table({attr})"))
    flush()

    pieces: List[str] = []
    nbits = 0
    for kind, value in segments:
        if kind == "raw":
            pieces.append(value)
            continue
        fmt = "".join(c for c, _ in value)
        exprs = []
        for _, e in value:
            if isinstance(e, list):  # a bit octet
                var = f"bits{nbits}" if nbits else "bits"
                nbits += 1
                terms = [f"({1 << i} if {t} else 0)" for i, t in enumerate(e)]
                if len(" | ".join(terms)) + len(var) + 11 <= 99:
                    prelude.append(f"{var} = {' | '.join(terms)}")
                else:
                    prelude.append(f"{var} = (")
                    prelude.append(f"    {terms[0]}")
                    prelude.extend(f"    | {t}" for t in terms[1:])
                    prelude.append(")")
                e = var
            exprs.append(e)
        pieces.append(f"{structs.get(fmt)}.pack({', '.join(exprs)})")

    lines = ["def encode(self) -> bytes:"]
    required = [f.name for f in m.fields if f.required]
    if required:
        conds = [f"self.{n} is None" for n in required]
        if len(" or ".join(conds)) + 11 <= 99:
            lines.append(f"    if {' or '.join(conds)}:")
        else:
            lines.append("    if (")
            lines.append(f"        {conds[0]}")
            lines.extend(f"        or {c}" for c in conds[1:])
            lines.append("    ):")
        lines.append(f"        raise required_error(self, {lit(tuple(required))})")
    lines.append("    try:")
    lines.extend(f"        {p}" for p in prelude)
    if len(pieces) == 1:
        lines.append(f"        return {pieces[0]}")
    elif len(pieces) == 2:
        lines.append(f"        return {pieces[0]} + {pieces[1]}")
    else:
        lines.append('        return b"".join((')
        lines.extend(f"            {p}," for p in pieces)
        lines.append("        ))")
    lines.append("    except ENCODE_FALLBACK:")
    lines.append("        return encode_method_checked(self)")
    return lines


def gen_decode(m: Method, structs: Structs) -> List[str]:
    """Straight-line decoder over ``data`` from ``offset``; falls back to the generic codec."""
    ret = f'Tuple["{m.qualname}", int]'
    lines = [
        "@classmethod",
        f"def decode(cls, data: Bytes, offset: int) -> {ret}:",
    ]
    if not m.fields:
        lines.append("    return cls(), offset")
        return lines
    body: List[str] = []
    fixed: List[Tuple[str, str]] = []  # (fmt char, target)
    assigns: List[str] = []  # executed after the fixed group is unpacked
    counter = {"bits": 0}
    bit_index = 8
    bits_var = ""
    last_is_slice = False

    def flush() -> None:
        nonlocal fixed, assigns
        if fixed:
            fmt = "".join(c for c, _ in fixed)
            targets = [t for _, t in fixed]
            size = struct.calcsize("!" + fmt)
            if fmt == "B":
                body.append(f"{targets[0]} = data[pos]")
            elif len(targets) == 1:
                body.append(f"{targets[0]} = {structs.get(fmt)}.unpack_from(data, pos)[0]")
            else:
                body.append(f"{', '.join(targets)} = {structs.get(fmt)}.unpack_from(data, pos)")
            body.append(f"pos += {size}")
        body.extend(assigns)
        fixed = []
        assigns = []

    for f in m.fields:
        if f.type == "bit":
            if bit_index == 8:
                bits_var = f"bits{counter['bits']}" if counter["bits"] else "bits"
                counter["bits"] += 1
                fixed.append(("B", bits_var))
                bit_index = 0
            assigns.append(f"obj.{f.name} = ({bits_var} & {1 << bit_index}) != 0")
            bit_index += 1
            last_is_slice = False
            continue
        bit_index = 8
        fmt = TYPES[f.type][0]
        if fmt is not None:
            fixed.append((fmt, f"obj.{f.name}"))
            last_is_slice = False
        elif f.type in ("shortstr", "longstr"):
            fixed.append(("B" if f.type == "shortstr" else "I", "n"))
            flush()
            if f.type == "shortstr":
                body.append(f"obj.{f.name} = data[pos:pos + n].decode({SURROGATES})")
            else:
                body.append(f"obj.{f.name} = bytes(data[pos:pos + n])")
            body.append("pos += n")
            last_is_slice = True
        elif f.type == "table":
            flush()
            body.append(f"obj.{f.name}, pos = decode_table(data, pos)")
            last_is_slice = False
    flush()
    lines.append("    obj = cls.__new__(cls)")
    lines.append("    pos = offset")
    lines.append("    try:")
    lines.extend(f"        {line}" for line in body)
    lines.append("    except DECODE_FALLBACK:")
    lines.append("        return decode_method_checked(cls, data, offset)")
    if last_is_slice:
        lines.append("    if pos > len(data):")
        lines.append("        return decode_method_checked(cls, data, offset)  # raises: truncated")
    lines.append("    return obj, pos")
    return lines


def gen_init(fields: Sequence[Field]) -> List[str]:
    if not fields:
        return []
    params = []
    for f in fields:
        default = None if f.required else f.default
        params.append(f"{f.name}: {f.annotation} = {lit(default)}")
    one_line = f"def __init__(self, {', '.join(params)}) -> None:"
    if len(one_line) + 8 <= 100:
        lines = [one_line]
    else:
        lines = ["def __init__(", "    self,"]
        lines.extend(f"    {p}," for p in params)
        lines.append(") -> None:")
    lines.extend(f"    self.{f.name} = {f.name}" for f in fields)
    return lines


def indent(lines: Sequence[str], n: int) -> List[str]:
    pad = " " * n
    return [pad + line if line else "" for line in lines]


def gen_arguments(fields: Sequence[Field]) -> List[str]:
    if not fields:
        return ["ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ()"]
    lines = ["ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]] = ("]
    lines.extend(f'    ("{f.name}", "{f.type}"),' for f in fields)
    lines.append(")")
    return lines


def gen_method(m: Method, structs: Structs) -> List[str]:
    sync = "synchronous" if m.synchronous else "asynchronous"
    doc = f"{m.klass.amqp_name}.{m.amqp_name} ({m.klass.id}, {m.method_id}): {sync}"
    if m.responses:
        doc += ", answered by " + " or ".join(m.responses)
    if m.content:
        doc += "; carries content"
    lines = [
        f"class {m.name}(amqp_object.Method):",
        f'    """{doc}."""',
        "",
        f"    INDEX = 0x{m.index:08X}  # ({m.klass.id} << 16) | {m.method_id}",
        f'    NAME = "{m.qualname}"',
        f"    synchronous = {m.synchronous}",
        f"    has_content = {m.content}",
    ]
    lines.extend(indent(gen_arguments(m.fields), 4))
    slots = [lit(f.name) for f in m.fields]
    lines.extend(indent(wrap_tuple("__slots__ = ", slots, 8), 4))
    for part in (gen_init(m.fields), gen_encode(m, structs), gen_decode(m, structs)):
        if part:
            lines.append("")
            lines.extend(indent(part, 4))
    return lines


def property_annotation(f: Field, enum_name: Optional[str] = None) -> str:
    ann = TYPES[f.type][1]
    if enum_name is not None:
        return f"Optional[Union[{ann}, {enum_name}]]"
    return ann if ann.startswith("Optional[") else f"Optional[{ann}]"


def gen_properties(k: Klass, structs: Structs) -> List[str]:
    name = f"{k.name}Properties"
    fields = k.properties
    if len(fields) > 15:  # the fast path handles one flag word; the generic codec any number
        raise SystemExit(f"{name}: more than 15 properties needs a fast path for flag words")
    lines = [
        f"class {name}(amqp_object.Properties):",
        f'    """Content header properties of {k.amqp_name} (class {k.id}) in pika\'s order.',
        "",
        "    ``None`` means absent. ``encode()`` gives the property flags and the present values;",
        "    ``decode(data, offset)`` reads them back, also across continuation flag words.",
        '    """',
        "",
        f"    CLASS = {k.name}",
        f"    INDEX = {k.id}",
        f'    NAME = "{name}"',
    ]
    for i, f in enumerate(fields):
        lines.append(f"    FLAG_{f.name.upper()} = 1 << {15 - i}")
    lines.extend(indent(gen_arguments(fields), 4))
    lines.extend(indent(wrap_tuple("__slots__ = ", [lit(f.name) for f in fields], 4), 4))
    lines.append("")
    params = [f"{f.name}: {property_annotation(f, PROPERTY_ENUMS.get((name, f.name)))} = None"
              for f in fields]
    init = ["def __init__(", "    self,"] + [f"    {p}," for p in params] + [") -> None:"]
    lines.extend(indent(init, 4))
    for f in fields:
        enum_name = PROPERTY_ENUMS.get((name, f.name))
        if enum_name is not None:
            # pika stores the member's value: the encode fast path packs an int, and the
            # property reads back as pika's programs compare it (props.delivery_mode == 2).
            # type() is: no measurable cost per construction (isinstance on an Enum: +80 ns);
            # _class_of is builtins.type (BasicProperties has a property named "type").
            lines.append(f"        self.{f.name} = (")
            test = f"_class_of({f.name}) is {enum_name}"
            lines.append(f"            {f.name}.value if {test} else {f.name}")
            lines.append("        )")
        else:
            lines.append(f"        self.{f.name} = {f.name}")

    # encode
    enc = [
        "def encode(self) -> bytes:",
        "    try:",
        "        flags = 0",
        '        pieces = [b""]  # [0] becomes the flag word',
        "        append = pieces.append",
    ]
    for i, f in enumerate(fields):
        flag = 1 << (15 - i)
        attr = f"self.{f.name}"
        enc.append(f"        if {attr} is not None:")
        enc.append(f"            flags |= 0x{flag:04X}")
        fmt = TYPES[f.type][0]
        if f.type == "bit":
            enc[-2] = f"        if {attr}:"
        elif fmt is not None:
            enc.append(f"            append({structs.get(fmt)}.pack({attr}))")
        elif f.type == "shortstr":
            enc.append(f"            raw = {attr}.encode()")
            enc.append(f"            append({structs.get('B')}.pack(len(raw)))")
            enc.append("            append(raw)")
        elif f.type == "longstr":
            enc.append(f"            raw = {attr}.encode() if isinstance({attr}, str) else {attr}")
            enc.append(f"            append({structs.get('I')}.pack(len(raw)))")
            enc.append("            append(raw)")
        elif f.type == "table":
            enc.append(f"            append(encode_table({attr}))")
    enc += [
        f"        pieces[0] = {structs.get('H')}.pack(flags)",
        '        return b"".join(pieces)',
        "    except ENCODE_FALLBACK:",
        "        return encode_properties_checked(self)",
    ]
    # decode
    used = 0
    for i in range(len(fields)):
        used |= 1 << (15 - i)
    unknown = 0xFFFF & ~used  # continuation bit and flags of properties that do not exist
    dec = [
        "@classmethod",
        f'def decode(cls, data: Bytes, offset: int) -> Tuple["{name}", int]:',
        "    obj = cls.__new__(cls)",
        "    try:",
        f"        flags = {structs.get('H')}.unpack_from(data, offset)[0]",
        f"        if flags & 0x{unknown:04X}:  # continuation or unknown property: generic path",
        "            return decode_properties_checked(cls, data, offset)",
        "        if not flags:  # no property present (common): skip the per-flag tests",
        *[f"            obj.{f.name} = None" for f in fields],
        "            return obj, offset + 2",
        "        pos = offset + 2",
    ]
    for i, f in enumerate(fields):
        flag = 1 << (15 - i)
        fmt = TYPES[f.type][0]
        dec.append(f"        if flags & 0x{flag:04X}:")
        if f.type == "bit":
            dec.append(f"            obj.{f.name} = True")
        elif fmt is not None:
            size = struct.calcsize("!" + fmt)
            if fmt == "B":
                dec.append(f"            obj.{f.name} = data[pos]")
            else:
                unpack = f"{structs.get(fmt)}.unpack_from(data, pos)[0]"
                dec.append(f"            obj.{f.name} = {unpack}")
            dec.append(f"            pos += {size}")
        elif f.type == "shortstr":
            dec.append("            n = data[pos]")
            value = f"data[pos + 1:pos + 1 + n].decode({SURROGATES})"
            dec.append(f"            obj.{f.name} = {value}")
            dec.append("            pos += 1 + n")
        elif f.type == "longstr":
            dec.append(f"            n = {structs.get('I')}.unpack_from(data, pos)[0]")
            dec.append(f"            obj.{f.name} = bytes(data[pos + 4:pos + 4 + n])")
            dec.append("            pos += 4 + n")
        elif f.type == "table":
            dec.append(f"            obj.{f.name}, pos = decode_table(data, pos)")
        dec.append("        else:")
        dec.append(f"            obj.{f.name} = None")
    dec += [
        "    except DECODE_FALLBACK:",
        "        return decode_properties_checked(cls, data, offset)",
        "    if pos > len(data):",
        "        return decode_properties_checked(cls, data, offset)  # raises: truncated",
        "    return obj, pos",
    ]
    lines.append("")
    lines.extend(indent(enc, 4))
    lines.append("")
    lines.extend(indent(dec, 4))
    return lines


def generate(spec: Dict[str, Any], input_name: str, digest: str) -> str:
    domains = {name: typ for name, typ in spec["domains"]}
    classes = [Klass(c, domains) for c in spec["classes"]]
    structs = Structs()
    out: List[str] = []
    w = out.append

    # ---- constants
    const_lines = [
        "PROTOCOL_VERSION = ({}, {}, {})".format(
            spec["major-version"], spec["minor-version"], spec["revision"]
        ),
        f"PORT = {spec['port']}",
        "",
    ]
    reply_codes: List[Tuple[str, int]] = []
    soft: List[str] = []
    hard: List[str] = []
    for c in spec["constants"]:
        cname = upper(c["name"])
        const_lines.append(f"{cname} = {c['value']}")
        # Reply codes: REPLY-SUCCESS and every constant with an error class (AMQP 0-9-1, 1.2).
        if "class" in c or cname.startswith("REPLY_"):
            reply_codes.append((cname, c["value"]))
        if c.get("class") == "soft-error":
            soft.append(cname)
        elif c.get("class") == "hard-error":
            hard.append(cname)
    const_lines.append("")
    for cname, value, why in EXTRA_CONSTANTS:
        const_lines.append(f"{cname} = {value}  # {why}")
    const_lines.append("")
    const_lines.append("REPLY_CODES: Dict[int, str] = {")
    const_lines.extend(f'    {cname}: "{cname}",' for cname, _ in reply_codes)
    const_lines.append("}")
    for label, names in (("SOFT_ERRORS", soft), ("HARD_ERRORS", hard)):
        const_lines.append(f"{label}: FrozenSet[int] = frozenset(")
        const_lines.append("    {")
        const_lines.extend(f"        {n}," for n in names)
        const_lines.append("    }")
        const_lines.append(")")

    # ---- classes
    class_lines: List[str] = []
    for k in classes:
        class_lines += ["", ""]
        class_lines.append(f"class {k.name}(amqp_object.Class):")
        class_lines.append(f'    """AMQP class {k.amqp_name} ({k.id})."""')
        class_lines.append("")
        class_lines.append(f"    INDEX = 0x{k.id:04X}  # {k.id}")
        class_lines.append(f'    NAME = "{k.name}"')
        for m in k.methods:
            class_lines.append("")
            class_lines.extend(indent(gen_method(m, structs), 4))
    for k in classes:
        if k.properties:
            class_lines += ["", ""]
            class_lines.extend(gen_properties(k, structs))

    tail = ["", "", "# Replies, set once every method class exists."]
    for k in classes:
        for m in k.methods:
            if m.responses:
                refs = ", ".join(f"{k.name}.{r}" for r in m.responses)
                tail.append(f"{m.qualname}.valid_responses = ({refs},)")
    tail += ["", "METHODS: Dict[int, Type[amqp_object.Method]] = {"]
    for k in classes:
        for m in k.methods:
            tail.append(f"    0x{m.index:08X}: {m.qualname},")
    tail.append("}")
    tail.append("")
    tail.append("PROPERTIES: Dict[int, Type[amqp_object.Properties]] = {")
    for k in classes:
        if k.properties:
            tail.append(f"    {k.id}: {k.name}Properties,")
    tail.append("}")

    # ---- header
    copyright_lines = [line.rstrip() for line in spec.get("copyright", [])]
    copyright_lines = [line for line in copyright_lines if line]
    w("# GENERATED FILE - DO NOT EDIT.")
    w(f"# Generator: {GENERATOR}")
    w(f"# Input:     {input_name}")
    w(f"#            sha256 {digest}")
    w(f"# Regenerate: python {GENERATOR} path/to/{input_name} amqpbase/spec.py")
    w("#")
    w("# The input's copyright notice:")
    for line in copyright_lines:
        w(f"#   {line}")
    w('"""AMQP 0-9-1 with RabbitMQ\'s extensions: constants, classes, methods, properties.')
    w("")
    w("Generated from the RabbitMQ codegen JSON; see tools/gen_spec.py for what is generated and")
    w('docs/internals.md ("Codec API") for the contract. Names and defaults follow pika.')
    w('"""')
    w("")
    w("from __future__ import annotations")
    w("")
    w("import struct")
    w("from builtins import type as _class_of")
    w("from typing import (")
    for name in ("Any", "ClassVar", "Dict", "FrozenSet", "Mapping", "Optional", "Tuple", "Type",
                 "Union"):
        w(f"    {name},")
    w(")")
    w("")
    w("from amqpbase import amqp_object")
    w("from amqpbase.delivery_mode import DeliveryMode")
    w("from amqpbase.fieldtable import (")
    for name in ("DECODE_FALLBACK", "ENCODE_FALLBACK", "decode_method_checked",
                 "decode_properties_checked", "decode_table", "encode_method_checked",
                 "encode_properties_checked", "encode_table", "required_error"):
        w(f"    {name},")
    w(")")
    w("")
    out.extend(const_lines)
    w("")
    w("# Precompiled structs (network byte order), named by format.")
    out.extend(structs.emit())
    w("")
    w("# What the generated decoders are written for. A memoryview works too (the fast path hands")
    w("# it to the generic decoder), but the frame decoder passes its bytearray.")
    w("Bytes = Union[bytes, bytearray]")
    out.extend(class_lines)
    out.extend(tail)
    return "\n".join(out) + "\n"


def main(argv: Sequence[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print("usage: python tools/gen_spec.py PATH_TO_JSON [OUTPUT]", file=sys.stderr)
        return 2
    src = argv[0]
    dst = argv[1] if len(argv) > 1 else os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "amqpbase", "spec.py"
    )
    with open(src, "rb") as fh:
        raw = fh.read()
    text = generate(json.loads(raw), os.path.basename(src), hashlib.sha256(raw).hexdigest())
    with open(dst, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
