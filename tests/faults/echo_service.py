"""``echo``: a service whose ``whoami`` answers its process id; run as real processes.

``tests/faults/test_registry_faults.py`` runs three of them, registered in one registry, and
kills one while a client calls them through the registry.
"""

from __future__ import annotations

import os

import atoll

service = atoll.Service("echo")


@service.rpc
async def whoami() -> int:
    """The process that answered."""
    return os.getpid()
