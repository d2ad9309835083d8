"""A system's definition: several services run as one process (``atoll.System``).

::

    system = atoll.System(users.service, runs.service, name="runnerly")
    atoll.main(system)               # or: atoll run runnerly.system:system

The services keep their own handlers and endpoints, and share one configuration, one
container, one message bus (an event one raises reaches the others' handlers) and one HTTP
server: their REST routes side by side, their JSON-RPC methods at ``/rpc`` as
``service.method``. A client of one of them by name (``clients.get("users")``) calls it in
the process, with the same encoding, validation and errors as over the network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from atoll.errors import ConfigError
from atoll.kernel.app import App, Declarations
from atoll.service.definition import ServiceDefinition
from atoll.service.wrapping import AsgiWrapping

if TYPE_CHECKING:
    from atoll.endpoints.api import Wrapper


__all__ = ["SystemDefinition", "services_of"]

S_co = TypeVar("S_co", bound="ServiceDefinition", covariant=True)


class SystemDefinition(Declarations, AsgiWrapping, Generic[S_co]):
    """Several services in one process.

    Args:
        *services: the services; their names must differ.
        name: the system's name: its environment prefix and its API's title.
        version: shown by ``--version`` and in the API documents.
        description: the first paragraph of ``--help``.

    Raises:
        ConfigError: no service is given, or two share a name.
    """

    def __init__(
        self,
        *services: S_co,
        name: str = "system",
        version: str = "0.0.0",
        description: str = "",
    ) -> None:
        if not services:
            raise ConfigError("a System needs at least one service: atoll.System(users, runs)")
        names = [service.name for service in services]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(
                f"a System holds each service once; {', '.join(twice)} appear more than once"
            )
        self.services = list(services)
        self.app = App(name, version=version, description=description)
        self.wrappers: list[Wrapper] = []

    def __repr__(self) -> str:
        return f"System({', '.join(s.name for s in self.services)}, name={self.name!r})"


def services_of(target: object) -> list[ServiceDefinition]:
    """The services of ``target``: itself for a service, a system's, none for anything else.

    What a command pointed at a service or a system (``atoll routes``, ``atoll graph``...)
    works through; an ``atoll.App`` of the kernel alone has no service.
    """
    if isinstance(target, ServiceDefinition):
        return [target]
    if isinstance(target, SystemDefinition):
        return list(target.services)
    return []
