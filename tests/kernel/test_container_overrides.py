"""Overrides in atoll.kernel.container: what they replace, what they remake, how they unwind."""

import pytest

from atoll.errors import MissingProviderError
from atoll.kernel.registry import Registry
from tests.kernel.container_doubles import (
    BlockError,
    Db,
    Engine,
    Repo,
    Service,
    Session,
    Settings,
    async_registry,
    web_registry,
)


def test_scopes_opened_inside_an_override_see_the_value():
    container = web_registry().build()
    fake = Session(Engine(Settings()))

    with container.override(Session, fake), container.scope() as scope:
        assert scope.get(Service).session is fake

    with container.scope() as scope:
        assert scope.get(Session) is not fake


def test_app_scoped_dependents_are_remade_from_the_override_and_restored_after():
    container = web_registry().build()
    test_settings = Settings("sqlite://:memory:")

    with container:
        engine = container.get(Engine)

        with container.override(Settings, test_settings):
            overridden = container.get(Engine)
            assert overridden.settings is test_settings
            assert container.get(Settings) is test_settings

        assert container.get(Engine) is engine
        assert container.get(Settings) is engine.settings


def test_overriding_an_unprovided_key_is_refused():
    container = web_registry().build()

    with pytest.raises(MissingProviderError) as caught, container.override(Db, Db()):
        pytest.fail("the block must not run")

    assert str(caught.value).startswith("cannot override Db: it has no provider; register one")


def test_nested_overrides_unwind_one_at_a_time():
    container = web_registry().build()
    outer, inner = Settings("outer"), Settings("inner")

    with container:
        original = container.get(Engine)
        with container.override(Settings, outer):
            assert container.get(Engine).settings is outer
            with container.override(Settings, inner):
                assert container.get(Engine).settings is inner
            assert container.get(Engine).settings is outer
            with container.override(Engine, fake := Engine(inner)):
                assert container.get(Engine) is fake
            assert container.get(Engine).settings is outer
        assert container.get(Engine) is original


def test_an_override_is_undone_when_its_block_raises():
    container = web_registry().build()
    test_settings = Settings("sqlite://:memory:")

    def use_the_override():
        with container.override(Settings, test_settings):
            assert container.get(Engine).settings is test_settings
            raise BlockError

    with container:
        engine = container.get(Engine)
        with pytest.raises(BlockError):
            use_the_override()

        assert container.get(Engine) is engine
        assert container.get(Settings) is engine.settings
        with container.scope() as scope:
            assert scope.get(Session).engine is engine


def test_an_override_takes_a_name():
    registry = Registry()
    registry.value(Db(), name="replica")
    container = registry.build()

    with container.override(Db, fake := Db(), name="replica"):
        assert container.get(Db, "replica") is fake


def test_overriding_an_async_factory_with_a_value_lets_sync_code_have_it():
    container = async_registry().build()
    fake = Engine(Settings())

    with container.override(Engine, fake), container.scope() as scope:
        assert scope.get(Repo).engine is fake
