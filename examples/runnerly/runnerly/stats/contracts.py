"""What the stats service publishes: its error codes; no framework.

The one module of ``stats`` that another service may import (an import-linter contract keeps
it so). ``stats`` publishes no messages: it keeps a read model of those ``runs`` publishes.
"""

from __future__ import annotations

__all__ = ["UNKNOWN_RUNNER"]

UNKNOWN_RUNNER = -32004
"""The JSON-RPC code of "no runner with this id" (HTTP 404): the weekly totals of a runner
other than the caller, which are no one else's to see, are answered so."""
