"""Automatic persisted queries: a client sends a document once, then only its hash.

Apollo's protocol: a request whose ``extensions`` hold ``persistedQuery: {"version": 1,
"sha256Hash": "<hex>"}`` may leave out its ``query``. The server answers one it knows by its
hash; one it does not know with the error ``PersistedQueryNotFound`` (``extensions.code``
``PERSISTED_QUERY_NOT_FOUND``), and the client sends it again with its ``query``, which the
server keeps once the hash is the document's own (a hash that is not is
``BAD_USER_INPUT``). Over GET, a query sent by its hash alone makes a short URL that caches
and proxies can keep.

The service keeps the last :data:`KEPT` documents by hash, in memory: a restarted process
asks clients for their documents again, once each. ``--no-graphql-persisted-queries``
answers every request by its ``query``, as a server without them does.
"""

from __future__ import annotations

import collections
import hashlib

from atoll.endpoints.graphql.engine import Executed
from atoll.endpoints.graphql.errors import BAD_USER_INPUT

__all__ = ["KEPT", "NOT_FOUND", "PersistedQueries"]

KEPT = 1024
"""Documents kept by their hash, the least recently used dropped first."""
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


class PersistedQueries:
    """The documents clients sent with their hash, to be sent by the hash alone after."""

    def __init__(self) -> None:
        self._kept: collections.OrderedDict[str, str] = collections.OrderedDict()

    def document(self, query: str | None, persisted: object) -> str | Executed:
        """The document of a request whose ``extensions`` hold ``persisted``.

        Returns:
            The document: ``query``, kept by its hash, or the one the hash names; or the
            refusal to answer: the hash is unknown, or not the query's.
        """
        if not isinstance(persisted, dict):
            persisted = {}
        wanted = persisted.get("sha256Hash")
        if persisted.get("version") != 1 or not isinstance(wanted, str):
            return _refused(
                'persistedQuery is {"version": 1, "sha256Hash": "<the query\'s SHA-256, hex>"}'
            )
        if query is None:
            known = self._kept.get(wanted)
            if known is None:
                unknown = {"message": "PersistedQueryNotFound", "extensions": {"code": NOT_FOUND}}
                return Executed({"errors": [unknown]}, refused=True)
            self._kept.move_to_end(wanted)
            return known
        if hashlib.sha256(query.encode()).hexdigest() != wanted.lower():
            return _refused("the sha256Hash of persistedQuery is not the query's")
        self._kept[wanted.lower()] = query
        if len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        return query


def _refused(message: str) -> Executed:
    error = {"message": message, "extensions": {"code": BAD_USER_INPUT}}
    return Executed({"errors": [error]}, refused=True)
