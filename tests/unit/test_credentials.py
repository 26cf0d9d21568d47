"""amqpbase.credentials: PLAIN/EXTERNAL responses, erasure, validation, secrets never shown."""

from __future__ import annotations

import copy
import traceback
from dataclasses import dataclass
from typing import Any, Dict, Union

import pytest

from amqpbase import credentials
from amqpbase.credentials import VALID_TYPES, ExternalCredentials, PlainCredentials

SECRET = "S3cr3t-pa55w0rd"


@dataclass
class Start:
    """The one field of Connection.Start that credentials read (bytes on the wire)."""

    mechanisms: Union[bytes, str]


def exception_text(exc: BaseException) -> str:
    """Everything a log line or traceback of ``exc`` could show."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + repr(exc)


# -- PlainCredentials ---------------------------------------------------------------------------


def test_plain_type_and_attributes() -> None:
    creds = PlainCredentials("user", SECRET)
    assert PlainCredentials.TYPE == "PLAIN"
    assert (creds.username, creds.password, creds.erase_on_connect) == ("user", SECRET, False)


@pytest.mark.parametrize(
    "mechanisms",
    [b"PLAIN", b"AMQPLAIN PLAIN", b"PLAIN AMQPLAIN EXTERNAL", "AMQPLAIN PLAIN", b"  PLAIN  "],
)
def test_plain_response_when_offered(mechanisms: Union[bytes, str]) -> None:
    creds = PlainCredentials("user", "pass")
    assert creds.response_for(Start(mechanisms)) == ("PLAIN", b"\0user\0pass")


@pytest.mark.parametrize(
    "mechanisms", [b"", b"AMQPLAIN", b"EXTERNAL", b"PLAINX", b"plain", "XPLAIN"]
)
def test_plain_response_when_not_offered(mechanisms: Union[bytes, str]) -> None:
    assert PlainCredentials("user", "pass").response_for(Start(mechanisms)) == (None, None)


def test_plain_response_is_utf8() -> None:
    creds = PlainCredentials("usér", "pässwörd✓")
    mechanism, response = creds.response_for(Start(b"PLAIN"))
    assert mechanism == "PLAIN"
    assert response == b"\0" + "usér".encode() + b"\0" + "pässwörd✓".encode()


def test_plain_response_with_empty_strings() -> None:
    assert PlainCredentials("", "").response_for(Start(b"PLAIN")) == ("PLAIN", b"\0\0")


def test_erase_on_connect_false_keeps_credentials() -> None:
    creds = PlainCredentials("user", "pass")
    creds.erase_credentials()
    assert (creds.username, creds.password) == ("user", "pass")


def test_erase_on_connect_true_forgets_credentials_idempotently() -> None:
    creds = PlainCredentials("user", "pass", erase_on_connect=True)
    creds.erase_credentials()
    assert (creds.username, creds.password) == (None, None)
    creds.erase_credentials()
    assert (creds.username, creds.password) == (None, None)
    # As in pika, a later attempt answers with empty strings (the broker then refuses).
    assert creds.response_for(Start(b"PLAIN")) == ("PLAIN", b"\0\0")


@pytest.mark.parametrize("field", ["username", "password"])
@pytest.mark.parametrize("bad", [None, 1, b"bytes", ["list"], 1.5])
def test_plain_rejects_non_str_without_echoing(field: str, bad: object) -> None:
    args = {"username": "user", "password": "pass", field: bad}
    with pytest.raises(TypeError) as info:
        PlainCredentials(**args)  # type: ignore[arg-type]
    assert field in str(info.value)
    assert type(bad).__name__ in str(info.value)
    if bad is not None:
        assert repr(bad) not in str(info.value)


@pytest.mark.parametrize("field", ["username", "password"])
def test_plain_rejects_nul_without_echoing(field: str) -> None:
    args: Dict[str, Any] = {"username": "user", "password": SECRET, field: SECRET + "\0x"}
    with pytest.raises(ValueError) as info:
        PlainCredentials(**args)
    assert field in str(info.value)
    assert SECRET not in exception_text(info.value)


@pytest.mark.parametrize("bad", [1, 0, "yes", None])
def test_plain_rejects_non_bool_erase_on_connect(bad: object) -> None:
    with pytest.raises(TypeError, match="erase_on_connect"):
        PlainCredentials("user", "pass", erase_on_connect=bad)  # type: ignore[arg-type]


def test_plain_repr_and_str_mask_the_password() -> None:
    creds = PlainCredentials("alice", SECRET, erase_on_connect=True)
    for text in (repr(creds), str(creds), f"{creds}", f"{creds!r}", repr([creds])):
        assert SECRET not in text
        assert "alice" in text
        assert credentials.MASK in text
    assert repr(creds) == (
        "PlainCredentials(username='alice', password='********', erase_on_connect=True)"
    )


def test_plain_mask_does_not_reveal_password_length() -> None:
    assert repr(PlainCredentials("u", "x")).replace("'u'", "") == repr(
        PlainCredentials("u", "x" * 50)
    ).replace("'u'", "")


def test_plain_repr_after_erasure() -> None:
    creds = PlainCredentials("alice", SECRET, erase_on_connect=True)
    creds.erase_credentials()
    assert repr(creds) == "PlainCredentials(username=None, password=None, erase_on_connect=True)"


def test_plain_equality() -> None:
    assert PlainCredentials("u", "p") == PlainCredentials("u", "p")
    assert not PlainCredentials("u", "p") != PlainCredentials("u", "p")
    assert PlainCredentials("u", "p") != PlainCredentials("u", "q")
    assert PlainCredentials("u", "p") != PlainCredentials("v", "p")
    assert PlainCredentials("u", "p") != PlainCredentials("u", "p", erase_on_connect=True)
    assert PlainCredentials("u", "p") != ExternalCredentials()
    assert PlainCredentials("u", "p") != ("u", "p")


def test_plain_is_unhashable_like_pika() -> None:
    with pytest.raises(TypeError):
        hash(PlainCredentials("u", "p"))


def test_plain_deepcopy_is_equal_and_independent() -> None:
    creds = PlainCredentials("u", "p", erase_on_connect=True)
    clone = copy.deepcopy(creds)
    assert clone == creds and clone is not creds
    clone.erase_credentials()
    assert creds.password == "p"


def test_plain_subclass_answers_with_its_type() -> None:
    class Custom(PlainCredentials):
        pass

    assert Custom("u", "p").response_for(Start(b"PLAIN")) == ("PLAIN", b"\0u\0p")
    assert repr(Custom("u", SECRET)).startswith("Custom(")
    assert SECRET not in repr(Custom("u", SECRET))


# -- ExternalCredentials ------------------------------------------------------------------------


def test_external_type_and_response() -> None:
    creds = ExternalCredentials()
    assert ExternalCredentials.TYPE == "EXTERNAL"
    assert creds.erase_on_connect is False
    assert creds.response_for(Start(b"PLAIN EXTERNAL")) == ("EXTERNAL", b"")
    assert creds.response_for(Start("EXTERNAL")) == ("EXTERNAL", b"")


@pytest.mark.parametrize("mechanisms", [b"", b"PLAIN", b"AMQPLAIN PLAIN", b"EXTERNALX"])
def test_external_response_when_not_offered(mechanisms: bytes) -> None:
    assert ExternalCredentials().response_for(Start(mechanisms)) == (None, None)


def test_external_erase_is_a_noop() -> None:
    creds = ExternalCredentials()
    creds.erase_credentials()
    assert creds == ExternalCredentials()
    assert creds.response_for(Start(b"EXTERNAL")) == ("EXTERNAL", b"")


def test_external_repr_equality_hash() -> None:
    assert repr(ExternalCredentials()) == str(ExternalCredentials()) == "ExternalCredentials()"
    assert ExternalCredentials() == ExternalCredentials()
    assert ExternalCredentials() != PlainCredentials("u", "p")
    with pytest.raises(TypeError):
        hash(ExternalCredentials())


def test_valid_types() -> None:
    assert VALID_TYPES == [PlainCredentials, ExternalCredentials]
    assert credentials.__all__ == ["PlainCredentials", "ExternalCredentials", "VALID_TYPES", "MASK"]
