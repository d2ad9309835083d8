"""The NATS registry passes the registry contract against a real nats-server, and keeps its bucket.

The contract runs against the shared bucket on 127.0.0.1:4222 (each test uses service names of
its own); the tests of the bucket itself use buckets of their own, removed after them.
"""

import asyncio
import shutil
import socket
import time
import uuid

import nats
import pytest
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, KeyNotFoundError, NotFoundError

from atoll.adapters.nats.registry import BUCKET, NatsRegistry, instance_key
from atoll.errors import ConfigError, UnavailableError
from atoll.resilience.registry import Instance, decode_instance, encode_instance, open_registry
from atoll.testing.registry_contract import RegistryContract

URL = "nats://127.0.0.1:4222"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"

pytestmark = pytest.mark.services("nats")


class TestNats(RegistryContract):
    @pytest.fixture
    def registry_url(self):
        return URL


@pytest.fixture
async def bucket():
    """A bucket name of the test's own, removed after it."""
    name = f"atoll_test_{uuid.uuid4().hex[:10]}"
    yield name
    client = await nats.connect(URL)
    try:
        await client.jetstream().delete_key_value(name)
    except NotFoundError:
        pass
    finally:
        await client.close()


def _private_server(spawn, *options: str):
    """Start a nats-server of the test's own on a free port; its URL and its process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = spawn(NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), *options)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    return f"nats://127.0.0.1:{port}", server


def test_a_nats_url_opens_the_nats_registry_on_its_default_bucket():
    registry = open_registry("nats://user:s3cret@127.0.0.1:4222")
    assert isinstance(registry, NatsRegistry)
    assert registry.bucket == BUCKET
    assert "s3cret" not in registry.describe()


def test_an_id_is_kept_in_a_key_nats_takes_and_no_other_id_shares():
    assert instance_key("users", "web-1:4242") == "users.web-1=3A4242"
    assert instance_key("users", "a.b") != instance_key("users", "a_b")
    assert instance_key("users", "a.b") == "users.a=2Eb"


def test_a_bad_bucket_or_max_age_is_refused():
    with pytest.raises(ConfigError, match="cannot name the registry's bucket"):
        NatsRegistry(f"{URL}?bucket=a.b")
    with pytest.raises(ConfigError, match="max_age in"):
        NatsRegistry(f"{URL}?max_age=never")


async def test_two_registries_starting_at_once_make_one_bucket(bucket):
    # Their max_ages differ: whichever makes the bucket first, the other uses it as it is.
    first = NatsRegistry(f"{URL}?bucket={bucket}&max_age=600")
    second = NatsRegistry(f"{URL}?bucket={bucket}&max_age=900")
    await asyncio.gather(first.start(), second.start())
    try:
        await first.register(Instance("users", "web-1:4242"), ttl=30)
        assert [i.id for i in await second.instances("users")] == ["web-1:4242"]
    finally:
        await first.stop()
        await second.stop()


async def test_a_bucket_made_with_another_max_age_is_used_as_it_is(bucket):
    first = NatsRegistry(f"{URL}?bucket={bucket}&max_age=60")
    second = NatsRegistry(f"{URL}?bucket={bucket}&max_age=7200")
    await first.start()
    await second.start()
    try:
        with pytest.raises(ConfigError, match="longer than the bucket"):
            await second.register(Instance("users", "web-1"), ttl=120)
        await second.register(Instance("users", "web-1"), ttl=60)
        assert [i.id for i in await first.instances("users")] == ["web-1"]
    finally:
        await first.stop()
        await second.stop()


async def test_an_expired_entry_is_not_listed_though_the_bucket_still_holds_it(bucket):
    now = [1_000_000.0]
    registry = NatsRegistry(f"{URL}?bucket={bucket}", clock=lambda: now[0])
    await registry.start()
    client = await nats.connect(URL)
    try:
        kv = await client.jetstream().key_value(bucket)
        await registry.register(Instance("users", "killed"), ttl=10)
        await registry.register(Instance("users", "alive"), ttl=60)
        now[0] += 10.5
        held = await kv.get(instance_key("users", "killed"))
        assert decode_instance(held.value or b"").id == "killed"  # max_age has not dropped it
        assert [i.id for i in await registry.instances("users")] == ["alive"]
        assert [i.id for i in await registry.lookup("use*")] == ["alive"]
        with pytest.raises(KeyNotFoundError):  # the read deleted it
            await kv.get(instance_key("users", "killed"))
    finally:
        await client.close()
        await registry.stop()


async def test_an_expired_entry_registered_again_meanwhile_is_not_deleted(bucket):
    registry = NatsRegistry(f"{URL}?bucket={bucket}")
    await registry.start()
    try:
        await registry.register(Instance("users", "web-1"), ttl=30)
        kv = registry._bucket()
        stale = (await kv.get(instance_key("users", "web-1"))).revision or 0
        await registry.register(Instance("users", "web-1", version="2"), ttl=30)
        await registry._forget(kv, instance_key("users", "web-1"), stale)
        assert [i.version for i in await registry.instances("users")] == ["2"]
    finally:
        await registry.stop()


async def test_an_unreachable_server_fails_start_naming_the_url_without_its_password():
    registry = open_registry("nats://user:s3cret@127.0.0.1:1")
    with pytest.raises(UnavailableError, match=r"nats://user:\*+@127\.0\.0\.1:1") as raised:
        await registry.start()
    assert "s3cret" not in str(raised.value)


async def test_a_stopped_registry_says_it_is_out_of_reach():
    registry = open_registry(URL)
    with pytest.raises(UnavailableError, match="not connected"):
        await registry.instances("users")
    await registry.stop()  # never started: nothing to close


async def test_starting_a_started_registry_keeps_its_connection(bucket):
    registry = NatsRegistry(f"{URL}?bucket={bucket}")
    await registry.start()
    try:
        connection = registry._nc
        await registry.start()
        assert registry._nc is connection
    finally:
        await registry.stop()


async def test_a_value_that_is_no_instance_is_left_out(bucket):
    registry = NatsRegistry(f"{URL}?bucket={bucket}")
    await registry.start()
    try:
        await registry.register(Instance("users", "web-1"), ttl=30)
        kv = registry._bucket()
        await kv.put("users.junk", b"not json")
        await kv.put("users.old", encode_instance(Instance("users", "old"), 0))  # no expiry
        assert [i.id for i in await registry.instances("users")] == ["web-1"]
    finally:
        await registry.stop()


async def test_a_server_without_jetstream_is_named_as_such(spawn):
    url, _ = _private_server(spawn)
    registry = NatsRegistry(url)
    with pytest.raises(UnavailableError, match="JetStream is not enabled"):
        await registry.start()
    assert registry._nc is None  # the connection was closed


async def test_a_stream_of_the_buckets_name_that_is_no_bucket_is_refused(bucket):
    client = await nats.connect(URL)
    try:
        config = api.StreamConfig(name=f"KV_{bucket}", subjects=[f"not_kv.{bucket}"])
        await client.jetstream().add_stream(config)
        registry = NatsRegistry(f"{URL}?bucket={bucket}")
        with pytest.raises(ConfigError, match="is no key-value bucket"):
            await registry.start()
    finally:
        await client.jetstream().delete_stream(f"KV_{bucket}")
        await client.close()


async def test_a_lost_server_makes_each_call_say_it_is_out_of_reach(spawn, tmp_path):
    url, server = _private_server(spawn, "-js", "-sd", str(tmp_path))
    registry = NatsRegistry(url)
    await registry.start()
    try:
        await registry.register(Instance("users", "web-1"), ttl=30)
        server.popen.kill()
        server.popen.wait()

        async def read_until_refused() -> None:
            for _ in range(50):  # until the client notices the connection is gone
                await registry.instances("users")
                await asyncio.sleep(0.1)

        with pytest.raises(UnavailableError, match=r"out of reach|could not"):
            await read_until_refused()
    finally:
        await registry.stop()


async def test_a_bucket_the_server_refuses_to_make_says_why(bucket, monkeypatch):
    async def refuse(self, config):
        raise APIError(description="insufficient resources")

    monkeypatch.setattr(JetStreamContext, "create_key_value", refuse)
    registry = NatsRegistry(f"{URL}?bucket={bucket}")
    with pytest.raises(ConfigError, match="insufficient resources; check the account"):
        await registry.start()
    assert registry._nc is None
