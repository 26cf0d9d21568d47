"""Fixtures of the blocking adapter's suite (real broker: the session ``broker`` fixture)."""

from __future__ import annotations

import uuid
from typing import Any, Iterator

import pytest

import amqpbase
from amqpbase.adapters.blocking import BlockingChannel, BlockingConnection


@pytest.fixture
def url(broker: Any) -> str:
    return str(broker.url)


@pytest.fixture
def params(url: str) -> amqpbase.URLParameters:
    return amqpbase.URLParameters(url)


@pytest.fixture
def connection(params: amqpbase.URLParameters) -> Iterator[BlockingConnection]:
    conn = BlockingConnection(params)
    try:
        yield conn
    finally:
        if conn.is_open:
            conn.close()


@pytest.fixture
def channel(connection: BlockingConnection) -> BlockingChannel:
    return connection.channel()


@pytest.fixture
def queue(channel: BlockingChannel) -> str:
    """A fresh exclusive server-named queue on ``channel``."""
    return str(channel.queue_declare("", exclusive=True).method.queue)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
