"""What the kernel offers the message bus: seeding a scope, filling a handler, build hooks."""

from __future__ import annotations

import pytest

import atoll
from atoll.errors import MissingProviderError, ProviderError, ScopeError
from atoll.kernel.entrypoint import load_config, running
from atoll.kernel.providers import Dependency


class Request:
    pass


class Db:
    pass


async def make_db() -> Db:
    return Db()


class Repo:
    def __init__(self, request: Request) -> None:
        self.request = request


def outside() -> Request:
    raise AssertionError("a seeded Request is never made")


def registry() -> atoll.Registry:
    registry = atoll.Registry()
    registry.provide(outside, scope=atoll.Scope.REQUEST)
    registry.provide(Repo, scope=atoll.Scope.REQUEST)
    registry.provide(make_db)
    return registry


async def test_a_seeded_instance_is_what_the_scope_and_its_dependents_get():
    request = Request()
    async with registry().build() as container, container.scope() as scope:
        scope.seed(Request, request)
        assert scope.get(Repo).request is request
        assert scope.get(Request) is request


def test_seeding_a_type_nothing_provides_is_refused():
    with registry().build().scope() as scope, pytest.raises(ScopeError, match="no provider"):
        scope.seed(str, "x")


def test_seeding_twice_is_refused():
    with registry().build().scope() as scope:
        scope.seed(Request, Request())
        with pytest.raises(ScopeError, match="already has one"):
            scope.seed(Request, Request())


async def test_afill_resolves_sync_and_async_dependencies_by_parameter_name():
    request = Request()
    dependencies = [
        Dependency("repo", Repo, positional=False, has_default=False),
        Dependency("db", Db, positional=False, has_default=False),
    ]
    async with registry().build() as container, container.scope() as scope:
        scope.seed(Request, request)
        filled = await scope.afill(dependencies)
    assert set(filled) == {"repo", "db"}
    assert filled["repo"].request is request
    assert isinstance(filled["db"], Db)


async def test_afill_leaves_an_unprovided_dependency_with_a_default_to_its_default():
    key = (Db, "replica")
    dependencies = [Dependency("replica", key, positional=False, has_default=True)]
    async with registry().build() as container, container.scope() as scope:
        assert await scope.afill(dependencies) == {}


async def test_afill_refuses_an_unprovided_dependency_without_a_default():
    dependencies = [Dependency("clock", float, positional=False, has_default=False)]
    async with registry().build() as container, container.scope() as scope:
        with pytest.raises(MissingProviderError, match="float"):
            await scope.afill(dependencies)


def test_include_adds_the_other_registrys_providers_and_keeps_identical_ones_once():
    first, second = atoll.Registry(), atoll.Registry()
    first.provide(Db)
    second.provide(Db)
    second.provide(Repo, scope=atoll.Scope.REQUEST)
    first.include(second, label="service 'runs'")
    assert set(first) == {Db, Repo}


def test_include_refuses_a_key_provided_differently_naming_both():
    first, second = atoll.Registry(), atoll.Registry()
    first.provide(Db)
    second.provide(make_db)
    with pytest.raises(ProviderError, match=r"provided both by .* in service 'runs'"):
        first.include(second, label="service 'runs'")


async def test_build_hooks_get_the_built_container_before_anything_is_made():
    app = atoll.App("hooked")
    app.provide(make_db)
    seen = []
    app.on_build(lambda container: seen.append(container.instances()))
    assert len(app.build_hooks) == 1
    async with running(app, load_config(app, [], {})) as container:
        assert isinstance(await container.aget(Db), Db)
    assert len(seen) == 1
    assert Db not in seen[0]  # the hook ran before the container made its instances


async def test_running_starts_the_components_for_the_block_and_stops_them_after():
    log = []

    class Engine:
        async def start(self) -> None:
            log.append("start")

        async def stop(self) -> None:
            log.append("stop")

    app = atoll.App("engine")
    app.provide(Engine)
    async with running(app, load_config(app, [], {})):
        assert log == ["start"]
    assert log == ["start", "stop"]


def test_load_config_reads_flags_and_environment():
    app = atoll.App("cfg")
    config = load_config(app, ["--log-level", "debug"], {"CFG_SHUTDOWN_GRACE": "3"})
    assert config.section("log").level == "debug"
    assert config.section("shutdown").grace == 3.0


def test_named_dependencies_can_be_seeded_by_name():
    registry = atoll.Registry()
    registry.provide(outside, scope=atoll.Scope.REQUEST, name="edge")
    with registry.build().scope() as scope:
        request = Request()
        scope.seed(Request, request, name="edge")
        assert scope.get(Request, "edge") is request
        with pytest.raises(ScopeError, match="no provider"):
            scope.seed(Request, Request())  # the unnamed key is another one


async def test_an_entrypoint_starts_after_every_other_component_and_stops_before_them():
    log = []

    class Store:
        async def start(self) -> None:
            log.append("store up")

        async def stop(self) -> None:
            log.append("store down")

    class Server:
        atoll_entrypoint = True

        async def start(self) -> None:
            log.append("server up")

        async def stop(self) -> None:
            log.append("server down")

    app = atoll.App("ordered")
    app.provide(Server)  # nothing in the graph ties the server to the store
    app.provide(Store)
    async with running(app, load_config(app, [], {})):
        pass
    assert log == ["store up", "server up", "server down", "store down"]
