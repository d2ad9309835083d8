"""The infrastructure services answer their own protocols, as the adapter tests will need."""

from __future__ import annotations

import socket
import struct

import pytest

pytestmark = pytest.mark.services("postgres", "redis", "rabbitmq", "nats")


def exchange(port: int, greeting: bytes, size: int = 64) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        if greeting:
            connection.sendall(greeting)
        return connection.recv(size)


def test_postgres_answers_an_ssl_request():
    # SSLRequest: length 8, code 80877103; the server answers 'S' or 'N'.
    assert exchange(5432, struct.pack("!ii", 8, 80877103), 1) in {b"S", b"N"}


def test_redis_answers_ping():
    assert exchange(6379, b"PING\r\n") == b"+PONG\r\n"


def test_rabbitmq_opens_amqp_0_9_1():
    answer = exchange(5672, b"AMQP\x00\x00\x09\x01", 7)
    assert answer[0] == 1  # a method frame: Connection.Start


def test_nats_greets_with_info_and_jetstream():
    answer = exchange(4222, b"", 4096)
    assert answer.startswith(b"INFO ")
    assert b'"jetstream":true' in answer
