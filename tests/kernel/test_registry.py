"""The registry: an application's recipes, keyed by type, checked when built."""

from typing import Annotated

import pytest

from atoll.errors import CycleError, MissingProviderError, ProviderError, ScopeMismatchError
from atoll.kernel.container import Container
from atoll.kernel.providers import FactoryKind, Named, Scope
from atoll.kernel.registry import Registry


class Settings:
    pass


class Db:
    pass


class PostgresDb(Db):
    pass


class SqliteDb(Db):
    pass


class Session:
    pass


class Pool:
    def __init__(self, session: Session) -> None:
        self.session = session


class Report:
    def __init__(self, primary: Db, replica: Annotated[Db, Named("replica")]) -> None:
        self.primary = primary
        self.replica = replica


class Loop:
    def __init__(self, other: "Loop") -> None:
        self.other = other


def make_settings() -> Settings:
    return Settings()


def test_provide_keys_a_factory_by_the_type_it_provides():
    registry = Registry()

    registry.provide(make_settings)

    assert list(registry) == [Settings]
    assert Settings in registry
    assert len(registry) == 1


def test_provide_returns_the_factory_so_it_can_decorate():
    registry = Registry()

    assert registry.provide(make_settings) is make_settings


def test_provide_with_options_decorates_too():
    registry = Registry()

    @registry.provide(scope=Scope.REQUEST)
    def open_session() -> Session:
        return Session()

    assert open_session() is not None
    assert registry.build().graph.providers[Session].scope is Scope.REQUEST


def test_app_scope_is_the_default():
    registry = Registry()
    registry.provide(Settings)

    assert registry.build().graph.providers[Settings].scope is Scope.APP


def test_name_lets_two_providers_give_one_type():
    registry = Registry()
    registry.provide(PostgresDb, provides=Db)
    registry.provide(SqliteDb, provides=Db, name="replica")
    registry.provide(Report)

    with registry.build() as container:
        report = container.get(Report)

    assert isinstance(report.primary, PostgresDb)
    assert isinstance(report.replica, SqliteDb)


def test_provides_registers_under_an_interface():
    registry = Registry()
    registry.provide(PostgresDb, provides=Db)

    assert Db in registry
    assert PostgresDb not in registry


def test_a_duplicate_key_is_refused_with_the_ways_out():
    registry = Registry()
    registry.provide(PostgresDb, provides=Db)

    with pytest.raises(ProviderError) as caught:
        registry.provide(SqliteDb, provides=Db)

    assert str(caught.value) == (
        "Db already has a provider (PostgresDb); pass replace=True to replace it, name=... to "
        "add a second one, or use container.override(...) in tests"
    )


def test_replace_swaps_the_provider_of_a_key():
    registry = Registry()
    registry.provide(PostgresDb, provides=Db)

    registry.provide(SqliteDb, provides=Db, replace=True)

    assert registry.build().graph.providers[Db].factory is SqliteDb


def test_value_registers_an_instance_under_its_type():
    registry = Registry()
    settings = Settings()

    registry.value(settings)

    provider = registry.build().graph.providers[Settings]
    assert (provider.kind, provider.factory) == (FactoryKind.VALUE, settings)


def test_value_takes_provides_and_name():
    registry = Registry()
    registry.value(PostgresDb(), provides=Db, name="replica")

    assert (Db, "replica") in registry


def test_a_duplicate_value_is_refused_unless_replaced():
    registry = Registry()
    registry.value(Settings())
    replacement = Settings()

    with pytest.raises(ProviderError, match="Settings already has a provider"):
        registry.value(Settings())
    registry.value(replacement, replace=True)

    assert registry.build().get(Settings) is replacement


def test_build_returns_a_container_with_a_copy_of_the_providers():
    registry = Registry()
    registry.provide(Settings)

    container = registry.build()
    registry.provide(Db)

    assert isinstance(container, Container)
    assert list(container.graph.providers) == [Settings]


def test_build_checks_for_missing_providers():
    registry = Registry()
    registry.provide(Pool)

    with pytest.raises(MissingProviderError, match=r"no provider for Session, needed by Pool"):
        registry.build()


def test_build_checks_for_cycles():
    registry = Registry()
    registry.provide(Loop)

    with pytest.raises(CycleError, match="Loop -> Loop"):
        registry.build()


def test_build_checks_scopes():
    registry = Registry()
    registry.provide(Pool)
    registry.provide(Session, scope=Scope.REQUEST)

    with pytest.raises(ScopeMismatchError, match="app-scoped Pool depends on request-scoped"):
        registry.build()


def test_copy_gives_a_registry_to_add_to_without_changing_the_original():
    registry = Registry()
    registry.provide(Settings)

    twin = registry.copy()
    twin.provide(Db)

    assert list(twin) == [Settings, Db]
    assert list(registry) == [Settings]


def test_provide_refuses_a_parameter_without_hint_or_default_at_registration():
    def make_db(url) -> Db:
        raise AssertionError(url)

    with pytest.raises(ProviderError, match=r"parameter 'url' of .*make_db has no type hint"):
        Registry().provide(make_db)


def test_provide_refuses_something_that_is_not_callable():
    registry = Registry()

    with pytest.raises(ProviderError, match=r"an instance of Settings is not callable"):
        registry.provide(Settings())

    assert len(registry) == 0
