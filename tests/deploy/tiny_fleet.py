"""A system of two services without a database, for ``atoll deploy``'s tests."""

import atoll

greeter = atoll.Service("greeter")
echo = atoll.Service("echo")
system = atoll.System(greeter, echo, name="tiny")
"""Two services, no database: no migration job, no database."""
