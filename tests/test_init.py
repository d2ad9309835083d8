"""The public surface: a small sorted ``__all__``, cheap to import, with nothing loaded early."""

from __future__ import annotations

import subprocess
import sys

import pytest

import atoll

OPTIONAL = (
    "sqlalchemy",
    "asyncpg",
    "nats",
    "aio_pika",
    "redis",
    "jwt",
    "argon2",
    "ariadne",
    "graphql",
    "prometheus_client",
    "opentelemetry",
    "granian",
    "uvicorn",
    "click",
    "httpx",
)


def test_all_is_sorted_and_holds_exactly_the_daily_names():
    assert atoll.__all__ == sorted(atoll.__all__)
    assert set(atoll.__all__) == {
        "App",
        "AtollError",
        "Component",
        "Container",
        "Clients",
        "Delivery",
        "Events",
        "Headers",
        "Identity",
        "InFlight",
        "Lifecycle",
        "MessageBus",
        "Named",
        "Page",
        "Registry",
        "RemoteService",
        "Repository",
        "Request",
        "Response",
        "Schema",
        "Scope",
        "ScopedContainer",
        "Secret",
        "Service",
        "State",
        "SyncRemoteService",
        "System",
        "UnitOfWork",
        "__version__",
        "acting_as",
        "allow",
        "inject",
        "limit",
        "main",
        "message",
        "option",
    }


@pytest.mark.parametrize("name", atoll.__all__)
def test_every_exported_name_resolves(name):
    assert getattr(atoll, name) is not None


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'atoll' has no attribute 'Servic3'"):
        _ = atoll.Servic3


def test_dir_lists_the_public_names():
    assert dir(atoll) == sorted(atoll.__all__)


def test_import_atoll_loads_no_optional_extra_and_no_event_loop():
    probe = (
        "import sys, atoll; app = atoll.App('x'); "
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    for module in (*OPTIONAL, "asyncio", "msgspec"):
        assert f"'{module}'" not in loaded, module
