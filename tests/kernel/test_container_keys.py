"""How a container of atoll.kernel.container finds a provider: by type, by name, by hint."""

from typing import Annotated

import pytest

from atoll.errors import MissingProviderError
from atoll.kernel.providers import Named
from atoll.kernel.registry import Registry
from tests.kernel.container_doubles import (
    Db,
    Engine,
    web_registry,
)


def test_get_resolves_by_type():
    with web_registry().build() as container:
        assert isinstance(container.get(Engine), Engine)


def test_get_with_a_name_resolves_the_named_provider():
    primary, replica = Db(), Db()
    registry = Registry()
    registry.value(primary)
    registry.value(replica, name="replica")

    container = registry.build()

    assert container.get(Db) is primary
    assert container.get(Db, name="replica") is replica


def test_a_hint_annotated_with_named_receives_the_named_instance():
    registry = Registry()
    replica = Db()
    registry.value(Db())
    registry.value(replica, name="replica")

    def report(db: Annotated[Db, Named("replica")]) -> Db:
        return db

    assert registry.build().call(report) is replica


def test_get_of_an_unprovided_type_names_it_and_hints():
    registry = Registry()
    registry.provide(Db, name="replica")

    with pytest.raises(MissingProviderError) as caught:
        registry.build().scope().get(Db)

    assert str(caught.value) == (
        "no provider for Db; Db named 'replica' is provided: did you mean to ask for "
        "Annotated[Db, Named('replica')]?"
    )
