"""The registry contract: what every adapter of the registry port must do, as pytest tests.

Subclass :class:`RegistryContract` in a test module and give it a ``registry_url`` fixture (a
URL two registries can share: two processes' connections)::

    class TestMemory(RegistryContract):
        @pytest.fixture
        def registry_url(self) -> str:
            return f"memory://contract-{uuid.uuid4().hex}"

Every test uses service names of its own, so that a real registry's leftovers from an earlier
run never reach it. The memory registry and the Redis and NATS adapters run this same suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import TYPE_CHECKING, ClassVar

import pytest

from atoll.errors import ConfigError
from atoll.resilience.registry import Instance, open_registry

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from atoll.resilience.registry import Registry

__all__ = ["RegistryContract"]


class RegistryContract:
    """The tests every registry adapter passes; subclasses give the URL as a fixture."""

    patience: ClassVar[float] = 10.0
    """Seconds a test waits at the most for what it expects."""

    @pytest.fixture
    async def registry(self, registry_url: str) -> AsyncIterator[Registry]:
        """A registry at ``registry_url``, started."""
        async with self._opened(registry_url) as registry:
            yield registry

    @contextlib.asynccontextmanager
    async def _opened(self, url: str) -> AsyncIterator[Registry]:
        registry = open_registry(url)
        await registry.start()
        try:
            yield registry
        finally:
            await registry.stop()

    @staticmethod
    def name(prefix: str = "svc") -> str:
        """A service name of the test's own."""
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    async def test_a_registered_instance_is_listed_as_it_said_it_was(
        self, registry: Registry
    ) -> None:
        service = self.name()
        instance = Instance(
            service,
            "web-1:4242",
            version="1.2.0",
            urls={"http": "http://10.0.0.7:8000/rpc"},
            metadata={"zone": "eu-1"},
            started_at=1733300000.5,
        )
        before = time.time()
        await registry.register(instance, ttl=30)
        (listed,) = await registry.instances(service)
        assert (listed.service, listed.id, listed.version) == (service, "web-1:4242", "1.2.0")
        assert dict(listed.urls) == {"http": "http://10.0.0.7:8000/rpc"}
        assert dict(listed.metadata) == {"zone": "eu-1"}
        assert (listed.health, listed.started_at) == ("up", 1733300000.5)
        assert before - 5 <= listed.seen_at <= time.time() + 5

    async def test_the_instances_of_a_service_are_listed_by_id_and_none_of_another(
        self, registry: Registry
    ) -> None:
        users, runs = self.name("users"), self.name("runs")
        for instance_id in ("web-2", "web-1"):
            await registry.register(Instance(users, instance_id), ttl=30)
        await registry.register(Instance(runs, "web-1"), ttl=30)
        assert [i.id for i in await registry.instances(users)] == ["web-1", "web-2"]
        assert [i.service for i in await registry.instances(runs)] == [runs]
        assert await registry.instances(self.name("nobody")) == []

    async def test_registering_again_replaces_what_the_instance_said(
        self, registry: Registry
    ) -> None:
        service = self.name()
        await registry.register(Instance(service, "web-1", version="1"), ttl=30)
        await registry.register(Instance(service, "web-1", version="2", health="draining"), 30)
        (listed,) = await registry.instances(service)
        assert (listed.version, listed.health) == ("2", "draining")

    async def test_a_deregistered_instance_leaves_at_once(self, registry: Registry) -> None:
        service = self.name()
        await registry.register(Instance(service, "web-1"), ttl=30)
        await registry.register(Instance(service, "web-2"), ttl=30)
        await registry.deregister(service, "web-1")
        await registry.deregister(service, "web-9")  # not registered: nothing happens
        assert [i.id for i in await registry.instances(service)] == ["web-2"]

    async def test_an_instance_silent_past_its_ttl_leaves(self, registry: Registry) -> None:
        service = self.name()
        await registry.register(Instance(service, "killed"), ttl=1.0)
        await registry.register(Instance(service, "alive"), ttl=60)
        async with asyncio.timeout(self.patience):
            while len(await registry.instances(service)) > 1:  # noqa: ASYNC110 - polled
                await asyncio.sleep(0.1)
        assert [i.id for i in await registry.instances(service)] == ["alive"]

    async def test_a_heartbeat_within_the_ttl_keeps_the_instance(self, registry: Registry) -> None:
        service = self.name()
        instance = Instance(service, "beating")
        ends = time.monotonic() + 3.0
        while time.monotonic() < ends:  # three seconds of beats, each well within the ttl
            await registry.register(instance, ttl=2.0)
            await asyncio.sleep(0.3)
            assert [i.id for i in await registry.instances(service)] == ["beating"]

    async def test_a_read_while_the_instances_beat_lists_each_of_them_once(
        self, registry: Registry
    ) -> None:
        service = self.name()
        instances = [Instance(service, f"i-{n}") for n in range(3)]
        for instance in instances:
            await registry.register(instance, ttl=30)
        beating = True

        async def beat(instance: Instance) -> None:
            while beating:
                await registry.register(instance, ttl=30)
                await asyncio.sleep(0)

        beats = [asyncio.create_task(beat(instance)) for instance in instances]
        try:
            reads = [[i.id for i in await registry.instances(service)] for _ in range(100)]
        finally:
            beating = False
            await asyncio.gather(*beats)
        assert reads == [["i-0", "i-1", "i-2"]] * 100

    async def test_a_lookup_finds_every_service_its_pattern_matches(
        self, registry: Registry
    ) -> None:
        prefix = self.name("shop")
        for service in (f"{prefix}-cart", f"{prefix}-orders", self.name("other")):
            await registry.register(Instance(service, "web-1"), ttl=30)
        found = await registry.lookup(f"{prefix}-*")
        assert sorted(i.service for i in found) == [f"{prefix}-cart", f"{prefix}-orders"]

    async def test_two_connections_see_each_others_instances(
        self, registry: Registry, registry_url: str
    ) -> None:
        service = self.name()
        async with self._opened(registry_url) as other:
            await other.register(Instance(service, "there"), ttl=30)
            await registry.register(Instance(service, "here"), ttl=30)
            assert [i.id for i in await registry.instances(service)] == ["here", "there"]
            assert [i.id for i in await other.instances(service)] == ["here", "there"]

    async def test_a_bad_name_or_ttl_is_refused(self, registry: Registry) -> None:
        with pytest.raises(ConfigError, match="cannot name a service"):
            await registry.instances("Users Service")
        with pytest.raises(ConfigError, match="ttl is seconds above 0"):
            await registry.register(Instance(self.name(), "web-1"), ttl=0)
