"""The lifetimes of atoll.kernel.container: one per root, one per scope, one per call."""

import pytest

from atoll.errors import ScopeError
from atoll.kernel.providers import Scope
from atoll.kernel.registry import Registry
from tests.kernel.container_doubles import (
    Clock,
    Engine,
    Service,
    Session,
    Settings,
    web_registry,
)


def test_an_app_scoped_instance_is_one_per_root_and_shared_by_its_scopes():
    container = web_registry().build()

    with container, container.scope() as first, container.scope() as second:
        assert first.get(Engine) is second.get(Engine) is container.get(Engine)


def test_each_root_container_makes_its_own_app_scoped_instances():
    registry = web_registry()

    with registry.build() as one, registry.build() as two:
        assert one.get(Engine) is not two.get(Engine)


def test_a_request_scoped_instance_is_one_per_scope():
    container = web_registry().build()

    with container.scope() as first, container.scope() as second:
        assert first.get(Session) is first.get(Session)
        assert first.get(Session) is not second.get(Session)
        assert first.get(Service).session is first.get(Session)


def test_a_message_scope_is_a_request_scope():
    registry = Registry()
    registry.provide(Clock, scope=Scope.MESSAGE)
    container = registry.build()

    with container.scope() as first, container.scope() as second:
        assert first.get(Clock) is first.get(Clock)
        assert first.get(Clock) is not second.get(Clock)


def test_a_transient_is_new_each_time():
    container = web_registry().build()

    with container.scope() as scope:
        assert scope.get(Clock) is not scope.get(Clock)
        assert scope.get(Service).clock is not scope.get(Clock)


def test_the_root_refuses_request_scoped_keys_telling_to_open_a_scope():
    with web_registry().build() as container, pytest.raises(ScopeError) as caught:
        container.get(Service)

    assert "Service is request-scoped, and the root container has no request: open a scope" in (
        str(caught.value)
    )


def test_the_root_resolves_a_transient_that_needs_only_app_scoped_keys():
    registry = Registry()
    registry.provide(Settings)
    registry.provide(Engine, scope=Scope.TRANSIENT)

    with registry.build() as container:
        assert container.get(Engine).settings is container.get(Settings)
