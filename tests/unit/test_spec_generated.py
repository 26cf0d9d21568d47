"""The generated amqpbase/spec.py: up to date with its generator and input, and correct.

The input JSON is vendored in the repository (``spec/amqp-rabbitmq-0.9.1.json``), so the
byte-identical check always runs; when the team's shared copy (``../shared/spec``) is beside the
repository, a test also checks the vendored copy has not drifted from it.
"""

from __future__ import annotations

import enum
import importlib.util
import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List

import pytest

from amqpbase import amqp_object, spec

REPO = Path(__file__).resolve().parents[2]
SPEC_JSON = REPO / "spec" / "amqp-rabbitmq-0.9.1.json"
SHARED_SPEC_JSON = REPO.parent / "shared" / "spec" / "amqp-rabbitmq-0.9.1.json"
GENERATOR = REPO / "tools" / "gen_spec.py"
GENERATED = REPO / "amqpbase" / "spec.py"

needs_json = pytest.mark.skipif(  # the vendored copy is in the tree: this never skips there
    not SPEC_JSON.exists(), reason=f"spec JSON not present at {SPEC_JSON}"
)


def test_the_spec_json_is_vendored() -> None:
    assert SPEC_JSON.is_file(), f"the generator's input must be in the repository: {SPEC_JSON}"


@pytest.mark.skipif(not SHARED_SPEC_JSON.exists(), reason="no shared spec beside the repository")
def test_the_vendored_spec_json_matches_the_shared_copy() -> None:
    assert SPEC_JSON.read_bytes() == SHARED_SPEC_JSON.read_bytes(), (
        f"{SPEC_JSON} differs from {SHARED_SPEC_JSON}: copy the new one in and regenerate"
    )


def load_generator() -> ModuleType:
    module_spec = importlib.util.spec_from_file_location("gen_spec", GENERATOR)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def spec_json() -> Dict[str, Any]:
    if not SPEC_JSON.exists():
        pytest.skip(f"spec JSON not present at {SPEC_JSON}")
    data: Dict[str, Any] = json.loads(SPEC_JSON.read_text())
    return data


# --------------------------------------------------------------------------------------------
# Up to date, deterministic, marked as generated
# --------------------------------------------------------------------------------------------


@needs_json
def test_committed_spec_is_byte_identical_to_a_fresh_generation(tmp_path: Path) -> None:
    out = tmp_path / "spec.py"
    subprocess.run(
        [sys.executable, str(GENERATOR), str(SPEC_JSON), str(out)], check=True, cwd=tmp_path
    )
    assert out.read_bytes() == GENERATED.read_bytes(), (
        "amqpbase/spec.py is stale: run python tools/gen_spec.py "
        "spec/amqp-rabbitmq-0.9.1.json"
    )


@needs_json
def test_generation_is_deterministic_and_independent_of_the_input_path(tmp_path: Path) -> None:
    gen = load_generator()
    copy = tmp_path / "elsewhere" / SPEC_JSON.name
    copy.parent.mkdir()
    shutil.copy(SPEC_JSON, copy)
    first = tmp_path / "a.py"
    second = tmp_path / "b.py"
    assert gen.main([str(SPEC_JSON), str(first)]) == 0
    assert gen.main([str(copy), str(second)]) == 0
    assert first.read_bytes() == second.read_bytes() == GENERATED.read_bytes()


def test_generated_file_says_so() -> None:
    head = GENERATED.read_text().splitlines()[:4]
    assert head[0] == "# GENERATED FILE - DO NOT EDIT."
    assert "tools/gen_spec.py" in head[1]
    assert "amqp-rabbitmq-0.9.1.json" in head[2]


def test_generator_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATOR)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "usage" in result.stderr


def test_generator_refuses_unknown_types(spec_json: Dict[str, Any]) -> None:
    gen = load_generator()
    broken = json.loads(json.dumps(spec_json))
    broken["classes"][0]["methods"][0]["arguments"][0] = {"type": "float", "name": "x"}
    with pytest.raises(SystemExit, match="unknown domain type"):
        gen.generate(broken, "x.json", "0")


def test_generated_code_is_mypy_strict_clean() -> None:
    pytest.importorskip("mypy")
    files = ["amqpbase/spec.py", "amqpbase/fieldtable.py", "amqpbase/frame.py"]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", *files],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------------------------
# Content: everything in the JSON is there, with pika's names
# --------------------------------------------------------------------------------------------


def test_constants() -> None:
    assert spec.PROTOCOL_VERSION == (0, 9, 1)
    assert spec.PORT == 5672
    assert (spec.FRAME_METHOD, spec.FRAME_HEADER, spec.FRAME_BODY, spec.FRAME_HEARTBEAT) == (
        1,
        2,
        3,
        8,
    )
    assert (spec.FRAME_MIN_SIZE, spec.FRAME_END) == (4096, 206)
    assert (spec.FRAME_HEADER_SIZE, spec.FRAME_END_SIZE) == (7, 1)
    assert (spec.PERSISTENT_DELIVERY_MODE, spec.TRANSIENT_DELIVERY_MODE) == (2, 1)
    assert spec.REPLY_SUCCESS == 200 and spec.CONNECTION_FORCED == 320
    assert spec.ACCESS_REFUSED == 403 and spec.NOT_ALLOWED == 530
    assert spec.FRAME_ERROR == 501 and spec.NOT_IMPLEMENTED == 540


def test_reply_codes(spec_json: Dict[str, Any]) -> None:
    soft = {c["value"] for c in spec_json["constants"] if c.get("class") == "soft-error"}
    hard = {c["value"] for c in spec_json["constants"] if c.get("class") == "hard-error"}
    assert spec.SOFT_ERRORS == soft and spec.HARD_ERRORS == hard
    assert set(spec.REPLY_CODES) == soft | hard | {200}
    assert spec.REPLY_CODES[501] == "FRAME_ERROR"
    assert spec.REPLY_CODES[404] == "NOT_FOUND"
    assert 311 in spec.SOFT_ERRORS and 320 in spec.HARD_ERRORS


def test_every_json_method_is_generated(spec_json: Dict[str, Any]) -> None:
    expected = {
        (c["id"] << 16) | m["id"]: (c, m) for c in spec_json["classes"] for m in c["methods"]
    }
    assert set(spec.METHODS) == set(expected)
    for index, method in spec.METHODS.items():
        klass, raw = expected[index]
        assert method.INDEX == index
        assert issubclass(method, amqp_object.Method)
        assert method.synchronous is bool(raw.get("synchronous", False)), method.NAME
        assert method.has_content is bool(raw.get("content", False)), method.NAME
        assert len(method.ARGUMENTS) == len(raw["arguments"])
        assert method.__slots__ == tuple(name for name, _ in method.ARGUMENTS)
        assert method.encode(_sample(method))[:4] == index.to_bytes(4, "big")


def _sample(method: type) -> Any:
    """An instance with every argument set to a valid value (``Method.encode`` unbound)."""
    return method(*[SAMPLE[t] for _, t in method.ARGUMENTS])


def test_rabbitmq_extensions_are_present() -> None:
    assert spec.Basic.Nack.INDEX == (60 << 16) | 120
    assert spec.Confirm.Select.valid_responses == (spec.Confirm.SelectOk,)
    assert spec.Exchange.Bind.valid_responses == (spec.Exchange.BindOk,)
    assert spec.Exchange.Unbind.valid_responses == (spec.Exchange.UnbindOk,)
    assert spec.Exchange.UnbindOk.INDEX == (40 << 16) | 51
    assert spec.Connection.Blocked.INDEX == (10 << 16) | 60
    assert spec.Connection.Unblocked.INDEX == (10 << 16) | 61
    assert spec.Connection.UpdateSecret.valid_responses == (spec.Connection.UpdateSecretOk,)


def test_valid_responses() -> None:
    assert spec.Basic.Get.valid_responses == (spec.Basic.GetOk, spec.Basic.GetEmpty)
    assert spec.Basic.Qos.valid_responses == (spec.Basic.QosOk,)
    assert spec.Basic.Consume.valid_responses == (spec.Basic.ConsumeOk,)
    assert spec.Basic.Recover.valid_responses == (spec.Basic.RecoverOk,)
    assert spec.Connection.Close.valid_responses == (spec.Connection.CloseOk,)
    assert spec.Channel.Open.valid_responses == (spec.Channel.OpenOk,)
    assert spec.Queue.Declare.valid_responses == (spec.Queue.DeclareOk,)
    assert spec.Tx.Rollback.valid_responses == (spec.Tx.RollbackOk,)
    for method in spec.METHODS.values():
        if method.synchronous:
            assert method.valid_responses, method.NAME
            assert all(r.INDEX >> 16 == method.INDEX >> 16 for r in method.valid_responses)
        else:
            assert method.valid_responses == (), method.NAME


def test_pika_argument_names() -> None:
    assert inspect.signature(spec.Basic.Qos).parameters.keys() == {
        "prefetch_size",
        "prefetch_count",
        "global_qos",
    }
    assert list(inspect.signature(spec.Basic.Publish).parameters.items())[0][1].default == 0
    assert spec.Queue.Declare().arguments is None  # table defaults are None (encode empty)
    assert spec.Exchange.Declare(exchange="x").type == "direct"


def test_basic_properties_signature() -> None:
    names = list(inspect.signature(spec.BasicProperties).parameters)
    assert names == [
        "content_type",
        "content_encoding",
        "headers",
        "delivery_mode",
        "priority",
        "correlation_id",
        "reply_to",
        "expiration",
        "message_id",
        "timestamp",
        "type",
        "user_id",
        "app_id",
        "cluster_id",
    ]
    parameters = inspect.signature(spec.BasicProperties).parameters.values()
    assert all(p.default is None for p in parameters)
    assert spec.PROPERTIES == {60: spec.BasicProperties}
    assert spec.BasicProperties.FLAG_CONTENT_TYPE == 1 << 15
    assert spec.BasicProperties.FLAG_CLUSTER_ID == 1 << 2
    assert spec.BasicProperties().encode() == b"\x00\x00"


# --------------------------------------------------------------------------------------------
# Cross-check with pika, the reference users port from (skipped when pika is absent)
# --------------------------------------------------------------------------------------------

SAMPLE: Dict[str, Any] = {
    "bit": True,
    "octet": 7,
    "short": 513,
    "long": 70000,
    "longlong": 2**40 + 3,
    "timestamp": 2**33,
    "shortstr": "sx",
    "longstr": b"lx",
    "table": {"k": 1, "s": "v", "n": {"b": True}},
}


def _pika_default(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def test_same_methods_signatures_and_bytes_as_pika() -> None:
    pika_spec = pytest.importorskip("pika.spec")
    assert set(pika_spec.methods) == set(spec.METHODS)
    for index, ours in spec.METHODS.items():
        theirs = pika_spec.methods[index]
        values = [SAMPLE[t] for _, t in ours.ARGUMENTS]
        assert ours.NAME == theirs.NAME
        assert ours.synchronous == theirs(*values).synchronous, ours.NAME
        ours_params = inspect.signature(ours).parameters
        their_params = inspect.signature(theirs).parameters
        assert list(ours_params) == list(their_params), ours.NAME
        for name, param in their_params.items():
            if param.default is not inspect.Parameter.empty:
                expected_default = _pika_default(param.default)
                assert ours_params[name].default == expected_default, (ours.NAME, name)
        expected = b"".join(theirs(*values).encode())
        assert ours(*values).encode() == index.to_bytes(4, "big") + expected, ours.NAME
        decoded, offset = ours.decode(expected, 0)
        assert offset == len(expected)
        assert decoded == ours(*values), ours.NAME


def test_same_properties_bytes_as_pika() -> None:
    pika_spec = pytest.importorskip("pika.spec")
    values: List[Any] = [
        SAMPLE[t] if t != "octet" else 2 for _, t in spec.BasicProperties.ARGUMENTS
    ]
    for present in range(len(values) + 1):
        subset = values[:present] + [None] * (len(values) - present)
        expected = b"".join(pika_spec.BasicProperties(*subset).encode())
        assert spec.BasicProperties(*subset).encode() == expected
        decoded, offset = spec.BasicProperties.decode(expected, 0)
        assert decoded == spec.BasicProperties(*subset) and offset == len(expected)
