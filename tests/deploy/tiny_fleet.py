"""A system of two services without a database, for ``atoll deploy``'s tests."""

from dataclasses import dataclass

import atoll

greeter = atoll.Service("greeter")
echo = atoll.Service("echo")
system = atoll.System(greeter, echo, name="tiny")
"""Two services, no database: no migration job, no database."""


@dataclass(frozen=True)
class VaultOptions:
    """Where the keeper keeps its keys."""

    token: atoll.Secret = atoll.option(help="the vault's token, required")
    backup: atoll.Secret | None = atoll.option(None, help="a second token, optional")


keeper = atoll.Service("keeper")
keeper.options("vault", VaultOptions)
with_secret = atoll.System(keeper, name="vaulted")
"""A service with a secret it requires."""

snaked = atoll.System(atoll.Service("shop_api"), name="shop")
"""A service whose name holds an underscore, which Kubernetes refuses in its names."""
