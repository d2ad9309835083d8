"""``atoll.Service`` and ``atoll.System``: definitions that run.

Each is its definition (:class:`~atoll.service.definition.ServiceDefinition`,
:class:`~atoll.service.system.SystemDefinition`) and two ways to run it: ``atoll.main(service)``
(through ``__atoll_app__``) and ``service.asgi()`` for another ASGI server. Both compose it
(:mod:`atoll.service.composition`), which is imported when they are called, never when atoll
is: declaring a service stays as cheap as ``import atoll``. The composition reads only the
definitions, so that nothing imports this module back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atoll.service.definition import ServiceDefinition
from atoll.service.system import SystemDefinition

if TYPE_CHECKING:
    from atoll.endpoints.http.types import ASGIApp
    from atoll.kernel.app import App

__all__ = ["Runnable", "Service", "System"]


class Runnable:
    """How a definition runs: ``atoll.main(it)`` and ``it.asgi()`` for another ASGI server."""

    def _definition(self) -> ServiceDefinition | SystemDefinition[ServiceDefinition]:
        # Mixed only into Service and System, below: what runs is the definition itself.
        assert isinstance(self, ServiceDefinition | SystemDefinition)  # noqa: S101
        return self

    def __atoll_app__(self) -> App:
        """The application that runs it, for ``atoll.main`` and ``atoll run``."""
        from atoll.service.composition import compose_target  # noqa: PLC0415 - see the module

        return compose_target(self._definition(), serve=True)

    def asgi(self) -> ASGIApp:
        """An ASGI app for any ASGI server; its lifespan starts and stops what it runs.

        ``app = service.asgi()`` in a module, then ``uvicorn module:app``. The configuration
        is read when the server starts it, from the environment and the config file.
        """
        from atoll.service.composition import asgi_app  # noqa: PLC0415 - see the module

        return asgi_app(self._definition())


class Service(Runnable, ServiceDefinition):
    """A service (see :class:`~atoll.service.definition.ServiceDefinition`), which runs.

    Args:
        name: lower-case name; the environment prefix, the API's title, the name clients use.
        version: shown by ``--version`` and in the API documents.
        description: the first paragraph of ``--help``; the module's docstring by default.
        env_prefix: the prefix of its environment variables.
    """


class System(Runnable, SystemDefinition[Service]):
    """Several services in one process (see :class:`~atoll.service.system.SystemDefinition`).

    Args:
        *services: the services; their names must differ.
        name: the system's name: its environment prefix and its API's title.
        version: shown by ``--version`` and in the API documents.
        description: the first paragraph of ``--help``.
    """
