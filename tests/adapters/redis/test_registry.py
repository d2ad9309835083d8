"""The Redis registry passes the registry contract against a real Redis, and keeps its own
promises: keys that expire on Redis, foreign keys skipped, and a Redis out of reach named
without its password."""

import uuid

import pytest
import redis.asyncio as aioredis

from atoll.adapters.redis.registry import RedisRegistry
from atoll.errors import UnavailableError
from atoll.resilience.registry import Instance, encode_instance, open_registry
from atoll.testing.registry_contract import RegistryContract

pytestmark = pytest.mark.services("redis")

URL = "redis://127.0.0.1:6379/5"
"""A database of these tests' own; each test names its services anew, and the keys expire."""


class TestRedis(RegistryContract):
    @pytest.fixture
    def registry_url(self):
        return URL


@pytest.fixture
async def registry():
    made = RedisRegistry(URL)
    await made.start()
    await made.start()  # started already: nothing more
    yield made
    await made.stop()


@pytest.fixture
async def raw():
    client = aioredis.from_url(URL)
    yield client
    await client.aclose()


def _service() -> str:
    return f"svc-{uuid.uuid4().hex[:10]}"


async def test_an_instance_is_a_key_that_expires_on_redis(registry, raw):
    service = _service()
    await registry.register(Instance(service, "web-1:4242"), ttl=30)
    assert 29_000 < await raw.pttl(f"atoll:registry:{service}:web-1:4242") <= 30_000
    await registry.register(Instance(service, "web-2"), ttl=0.0001)  # PX 1: the least Redis takes
    await registry.deregister(service, "web-1:4242")
    assert await raw.exists(f"atoll:registry:{service}:web-1:4242") == 0


async def test_what_is_under_the_prefix_and_no_instance_of_its_key_is_skipped(registry, raw):
    service = _service()
    await registry.register(Instance(service, "web-1"), ttl=30)
    prefix = f"atoll:registry:{service}"
    await raw.set(f"{prefix}:garbage", b"not json", ex=30)
    await raw.hset(f"{prefix}:a-hash", "k", "v")  # another type: MGET gives nothing
    await raw.expire(f"{prefix}:a-hash", 30)
    await raw.set(f"{prefix}:web-9", encode_instance(Instance(service, "web-1"), 0.0), ex=30)
    assert [i.id for i in await registry.instances(service)] == ["web-1"]
    assert [i.id for i in await registry.lookup(service)] == ["web-1"]


async def test_a_lookup_lists_by_service_then_id(registry):
    first = _service()
    second = f"{first}-b"  # its key sorts before first's ("-" < ":"): the order is by name
    for service, instance_id in ((second, "web-1"), (first, "web-2"), (first, "web-1")):
        await registry.register(Instance(service, instance_id), ttl=30)
    found = await registry.lookup(f"{first}*")
    assert [(i.service, i.id) for i in found] == [
        (first, "web-1"),
        (first, "web-2"),
        (second, "web-1"),
    ]


async def test_an_unreachable_redis_is_named_without_its_password():
    registry = open_registry("redis://:s3cret@127.0.0.1:1/5")
    assert isinstance(registry, RedisRegistry)
    assert registry.describe() == "redis://:********@127.0.0.1:1/5"
    assert repr(registry) == "RedisRegistry('redis://:********@127.0.0.1:1/5')"
    with pytest.raises(UnavailableError) as caught:
        await registry.start()
    message = str(caught.value)
    assert "s3cret" not in message
    assert message.startswith("cannot reach the registry at redis://:********@127.0.0.1:1/5: ")
    assert message.endswith("is Redis running there? check the registry URL")
    with pytest.raises(UnavailableError, match="is not started"):
        await registry.instances("users")
    await registry.stop()  # never started: nothing to close


async def test_refused_credentials_are_named_without_the_password():
    with pytest.raises(UnavailableError) as caught:
        await RedisRegistry("redis://nobody:s3cret@127.0.0.1:6379/5").start()
    message = str(caught.value)
    assert "s3cret" not in message
    assert "the registry at redis://nobody:********@127.0.0.1:6379/5 refused the credentials" in (
        message
    )


async def test_a_url_redis_py_cannot_read_is_a_config_error():
    with pytest.raises(ValueError, match="cannot be read"):
        await RedisRegistry("redis://127.0.0.1:notaport/5").start()


async def test_a_command_redis_refuses_is_unavailable_naming_what_to_check(registry, raw):
    service = _service()
    await registry.register(Instance(service, "web-1"), ttl=30)
    user, password = f"atoll-registry-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await raw.acl_setuser(
        user,
        enabled=True,
        passwords=[f"+{password}"],
        keys=["*"],
        commands=["+@all", "-set", "-mget"],
    )
    limited = RedisRegistry(f"redis://{user}:{password}@127.0.0.1:6379/5")
    try:
        await limited.start()
        with pytest.raises(UnavailableError, match=r"refused a command: .*check that the URL"):
            await limited.register(Instance(service, "web-2"), ttl=30)
        with pytest.raises(UnavailableError, match="refused a command") as caught:
            await limited.instances(service)
        assert password not in str(caught.value)
    finally:
        await limited.stop()
        await raw.acl_deluser(user)
