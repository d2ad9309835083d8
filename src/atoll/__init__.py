"""atoll: microservices in clean layers.

The names a service's code types every day; everything else lives in its module
(``atoll.kernel.config``, ``atoll.errors``...). The names that need asyncio (the entrypoint
and the lifecycle) load on first use, so that ``import atoll`` and declaring an application
stay cheap: nothing runs until ``atoll.main`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atoll._lazy import lazy_names
from atoll._version import __version__
from atoll.errors import AtollError
from atoll.kernel.app import App
from atoll.kernel.container import Container, ScopedContainer, inject
from atoll.kernel.options import Secret, option
from atoll.kernel.providers import Named, Scope
from atoll.kernel.registry import Registry
from atoll.service.runnable import Service, System

if TYPE_CHECKING:
    from atoll.clients.directory import Clients
    from atoll.clients.remote import RemoteService, SyncRemoteService
    from atoll.kernel.entrypoint import main
    from atoll.kernel.inflight import InFlight
    from atoll.kernel.lifecycle import Component, Lifecycle, State
    from atoll.messaging.bus import Events, MessageBus
    from atoll.messaging.context import Headers, Request, Response
    from atoll.messaging.envelope import Delivery, message
    from atoll.persistence.pages import Page
    from atoll.persistence.repository import Repository
    from atoll.persistence.schema import Schema
    from atoll.persistence.unit_of_work import UnitOfWork
    from atoll.security.auth import acting_as
    from atoll.security.identity import Identity
    from atoll.security.limits import limit
    from atoll.security.policies import allow

__all__ = [
    "App",
    "AtollError",
    "Clients",
    "Component",
    "Container",
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
]

_LAZY = {
    "Component": "atoll.kernel.lifecycle",
    "Clients": "atoll.clients.directory",
    "Delivery": "atoll.messaging.envelope",
    "Events": "atoll.messaging.bus",
    "Headers": "atoll.messaging.context",
    "Identity": "atoll.security.identity",
    "acting_as": "atoll.security.auth",
    "allow": "atoll.security.policies",
    "limit": "atoll.security.limits",
    "Request": "atoll.messaging.context",
    "Response": "atoll.messaging.context",
    "MessageBus": "atoll.messaging.bus",
    "message": "atoll.messaging.envelope",
    "RemoteService": "atoll.clients.remote",
    "Page": "atoll.persistence.pages",
    "Repository": "atoll.persistence.repository",
    "Schema": "atoll.persistence.schema",
    "UnitOfWork": "atoll.persistence.unit_of_work",
    "SyncRemoteService": "atoll.clients.remote",
    "InFlight": "atoll.kernel.inflight",
    "Lifecycle": "atoll.kernel.lifecycle",
    "State": "atoll.kernel.lifecycle",
    "main": "atoll.kernel.entrypoint",
}


__getattr__, __dir__ = lazy_names("atoll", __all__, _LAZY, globals())
