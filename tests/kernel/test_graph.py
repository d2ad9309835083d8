"""The provider graph: checked once when built, its errors naming the path and the fix."""

from typing import Annotated, Protocol

import pytest

from atoll.errors import CycleError, GraphError, MissingProviderError, ScopeMismatchError
from atoll.kernel import container as container_module
from atoll.kernel import graph as graph_module
from atoll.kernel import resolvers as resolvers_module
from atoll.kernel.graph import (
    APP_LIFETIME,
    REQUEST_LIFETIME,
    Graph,
    missing_hint,
    request_path,
)
from atoll.kernel.providers import Named, Provider, Scope


class Settings:
    pass


class Missing:
    pass


class B:
    def __init__(self, missing: Missing) -> None:
        self.missing = missing


class A:
    def __init__(self, b: B) -> None:
        self.b = b


class Db:
    pass


class PostgresDb(Db):
    pass


class Port(Protocol):
    def send(self) -> None: ...


class Adapter:
    def send(self) -> None:
        pass


class ExplicitAdapter(Port):
    def send(self) -> None:
        pass


class NeedsPort:
    def __init__(self, port: Port) -> None:
        self.port = port


class NeedsDb:
    def __init__(self, db: Db) -> None:
        self.db = db


class NeedsReplica:
    def __init__(self, db: Annotated[Db, Named("replica")]) -> None:
        self.db = db


class UserRepository:
    pass


class UserRepositorys:
    pass


class NeedsRepository:
    def __init__(self, users: UserRepositorys) -> None:
        self.users = users


class WithDefault:
    def __init__(self, settings: Settings, missing: Missing | None = None) -> None:
        self.settings = settings
        self.missing = missing


class Ring1:
    def __init__(self, other: "Ring2") -> None:
        self.other = other


class Ring2:
    def __init__(self, other: "Ring3") -> None:
        self.other = other


class Ring3:
    def __init__(self, other: Ring1) -> None:
        self.other = other


class Selfish:
    def __init__(self, me: "Selfish") -> None:
        self.me = me


class Session:
    pass


class Clock:
    def __init__(self, session: Session) -> None:
        self.session = session


class Cache:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock


class Pool:
    def __init__(self, session: Session) -> None:
        self.session = session


def build(*providers):
    return Graph.check({provider.key: provider for provider in providers})


def app(factory, **options):
    return Provider.of_factory(factory, scope=Scope.APP, **options)


def request(factory, **options):
    return Provider.of_factory(factory, scope=Scope.REQUEST, **options)


def transient(factory, **options):
    return Provider.of_factory(factory, scope=Scope.TRANSIENT, **options)


def test_order_puts_each_key_after_what_it_needs():
    graph = build(app(A), app(B), app(Missing))

    assert graph.order == (Missing, B, A)


def test_a_missing_provider_names_the_path_and_how_to_register_one():
    with pytest.raises(MissingProviderError) as caught:
        build(app(A), app(B))

    assert str(caught.value) == (
        "no provider for Missing, needed by B (path: A -> B -> Missing); register one with "
        "registry.provide(<factory returning Missing>) or registry.value(<instance>)"
    )
    assert isinstance(caught.value, GraphError)
    assert isinstance(caught.value, LookupError)


def test_a_missing_unnamed_provider_suggests_the_named_one():
    with pytest.raises(MissingProviderError) as caught:
        build(app(NeedsDb), app(Db, name="replica"))

    assert str(caught.value) == (
        "no provider for Db, needed by NeedsDb (path: NeedsDb -> Db); Db named 'replica' is "
        "provided: did you mean to ask for Annotated[Db, Named('replica')]?"
    )


def test_a_missing_named_provider_suggests_the_unnamed_one():
    with pytest.raises(MissingProviderError) as caught:
        build(app(NeedsReplica), app(Db))

    assert str(caught.value).endswith(
        "Db is provided without a name: ask for Db, or register the 'replica' one with "
        "name='replica'"
    )


def test_a_missing_named_provider_suggests_another_name():
    assert missing_hint((Db, "replica"), [(Db, "primary")]) == (
        "Db named 'primary' is provided: did you mean to ask for Annotated[Db, Named('primary')]?"
    )


def test_a_missing_interface_suggests_provides_for_a_registered_subclass():
    with pytest.raises(MissingProviderError) as caught:
        build(app(NeedsDb), app(PostgresDb))

    assert str(caught.value).endswith(
        "PostgresDb is provided and is a Db: register it with provides=Db"
    )


def test_a_missing_named_interface_suggests_provides_and_the_name():
    assert missing_hint((Db, "replica"), [PostgresDb]) == (
        "PostgresDb is provided and is a Db: register it with provides=Db, name='replica'"
    )


def test_a_missing_protocol_suggests_provides_for_an_explicit_subclass():
    assert missing_hint(Port, [Adapter, ExplicitAdapter]) == (
        "ExplicitAdapter is provided and is a Port: register it with provides=Port"
    )


def test_a_missing_protocol_that_is_not_runtime_checkable_is_still_reported():
    with pytest.raises(MissingProviderError) as caught:
        build(app(NeedsPort), app(Adapter))

    assert "no provider for Port, needed by NeedsPort (path: NeedsPort -> Port)" in str(
        caught.value
    )


def test_a_missing_provider_suggests_a_close_name():
    with pytest.raises(MissingProviderError) as caught:
        build(app(NeedsRepository), app(UserRepository))

    assert str(caught.value).endswith("did you mean UserRepository?")


def test_a_missing_generic_type_says_how_to_register_it():
    assert missing_hint(list[int], [Settings]) == (
        "register one with registry.provide(<factory returning list[int]>) or "
        "registry.value(<instance>)"
    )


def test_a_missing_named_provider_says_how_to_register_it_with_its_name():
    assert missing_hint((Missing, "x"), []) == (
        "register one with registry.provide(<factory returning Missing>, name='x') or "
        "registry.value(<instance>)"
    )


def test_a_dependency_with_a_default_needs_no_provider():
    graph = build(app(WithDefault), app(Settings))

    assert graph.order == (Settings, WithDefault)


def test_a_cycle_names_all_its_members_in_order():
    with pytest.raises(CycleError) as caught:
        build(app(Ring1), app(Ring2), app(Ring3))

    assert str(caught.value) == (
        "dependency cycle: Ring1 -> Ring2 -> Ring3 -> Ring1; break it by making one of them "
        "take a factory or a value it can call later"
    )


def test_a_provider_that_needs_itself_is_a_cycle():
    with pytest.raises(CycleError, match="dependency cycle: Selfish -> Selfish;"):
        build(app(Selfish))


def test_app_scoped_needing_request_scoped_is_refused_naming_both_and_the_fix():
    with pytest.raises(ScopeMismatchError) as caught:
        build(app(Pool), request(Session))

    assert str(caught.value) == (
        "app-scoped Pool depends on request-scoped Session (path: Pool -> Session); an "
        "app-scoped instance would keep one request's Session for every later request. Make "
        "Pool request-scoped, or Session app-scoped"
    )


def test_app_scoped_needing_request_scoped_through_a_transient_is_refused():
    with pytest.raises(ScopeMismatchError) as caught:
        build(app(Cache), transient(Clock), request(Session))

    assert str(caught.value).startswith(
        "app-scoped Cache depends on request-scoped Session (path: Cache -> Clock -> Session)"
    )


def test_a_transient_lives_as_short_as_its_shortest_dependency():
    graph = build(transient(Clock), request(Session), app(Settings), transient(Missing))

    assert graph.lifetimes == {
        Session: REQUEST_LIFETIME,
        Clock: REQUEST_LIFETIME,
        Settings: APP_LIFETIME,
        Missing: APP_LIFETIME,
    }


def test_the_lifetimes_and_the_key_split_are_defined_once():
    """graph.py owns the lifetimes and providers.py split_key; no module keeps its own copy."""
    for module in (container_module, graph_module, resolvers_module):
        assert not {"_APP", "_REQUEST", "_split"} & vars(module).keys(), module.__name__
    assert resolvers_module.REQUEST_LIFETIME is graph_module.REQUEST_LIFETIME


def test_request_path_leads_to_the_request_scoped_provider():
    graph = build(request(Cache), transient(Clock), request(Session))

    assert request_path(graph.providers, graph.lifetimes, Cache) == [Cache]
    assert request_path(graph.providers, graph.lifetimes, Clock) == [Clock, Session]


async def open_session() -> Session:
    return Session()


def test_a_key_is_async_when_its_factory_or_a_dependency_awaits():
    graph = build(request(open_session), transient(Clock), app(Settings))

    assert graph.is_async == {Session: True, Clock: True, Settings: False}


def test_dependents_are_every_key_that_needs_one_directly_or_not():
    graph = build(app(A), app(B), app(Missing), app(Settings))

    assert graph.dependents(Missing) == {A, B}
    assert graph.dependents(A) == set()


class Consumed:
    pass


class PerRequest:
    pass


def consumer_graph():
    return Graph.check(
        {
            Consumed: Provider.of_factory(Consumed, scope=Scope.APP),
            PerRequest: Provider.of_factory(PerRequest, scope=Scope.REQUEST),
        }
    )


def test_a_consumer_with_provided_or_defaulted_parameters_passes():
    async def relay(consumed: Consumed, retries: int = 3) -> None:
        pass

    consumer_graph().check_consumer("background task 'relay'", relay)


def test_a_consumer_missing_a_provider_is_named_in_the_message():
    async def relay(missing: Missing) -> None:
        pass

    with pytest.raises(
        MissingProviderError, match=r"^no provider for Missing, needed by background task 'relay';"
    ):
        consumer_graph().check_consumer("background task 'relay'", relay)


def test_an_app_scoped_consumer_cannot_need_a_request_scoped_instance():
    async def relay(per_request: PerRequest) -> None:
        pass

    with pytest.raises(
        ScopeMismatchError,
        match=r"^background task 'relay' needs PerRequest, which lives in a request scope",
    ):
        consumer_graph().check_consumer("background task 'relay'", relay)


def test_a_request_scoped_consumer_may_need_a_request_scoped_instance():
    async def handle(per_request: PerRequest, consumed: Consumed) -> None:
        pass

    consumer_graph().check_consumer("handler 'handle'", handle, lifetime=REQUEST_LIFETIME)
