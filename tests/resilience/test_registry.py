"""The registry port: its memory implementation passes the contract every adapter passes."""

from __future__ import annotations

import uuid

import pytest

from atoll.errors import ConfigError
from atoll.resilience.registry import Instance, MemoryRegistry, decode_instance, open_registry
from atoll.testing.registry_contract import RegistryContract


class TestMemory(RegistryContract):
    @pytest.fixture
    def registry_url(self) -> str:
        return f"memory://contract-{uuid.uuid4().hex}"


async def test_an_entry_expires_on_the_registrys_clock():
    now = [1000.0]
    registry = MemoryRegistry(f"memory://clock-{uuid.uuid4().hex}", clock=lambda: now[0])
    await registry.register(Instance("users", "web-1"), ttl=10)
    now[0] += 9.9
    assert [i.id for i in await registry.instances("users")] == ["web-1"]
    now[0] += 0.2
    assert await registry.instances("users") == []


def test_an_instance_id_must_fit_in_a_key():
    with pytest.raises(ConfigError, match="cannot be an instance's id"):
        Instance("users", "web 1")


def test_what_is_not_an_instance_decodes_to_none():
    assert decode_instance(b"not json") is None
    assert decode_instance(b'{"service": "Bad Name", "id": "x"}') is None


def test_a_url_of_another_scheme_is_refused_with_the_ones_taken():
    with pytest.raises(ConfigError, match="use memory://NAME, redis://HOST:6379/0 or nats://"):
        open_registry("consul://127.0.0.1:8500")
