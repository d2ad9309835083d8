"""Fixtures of the clients' tests: httpx clients to a scripted or an in-process server."""

from __future__ import annotations

import httpx
import pytest

from atoll.clients.remote import RemoteService
from atoll.clients.transports import HttpTransport

URL = "http://calc.test/rpc"


@pytest.fixture
async def clients():
    """httpx clients made by a test, closed after it (a given client is its owner's to close)."""
    made: list[httpx.AsyncClient] = []

    def make(handler=None, app=None) -> httpx.AsyncClient:
        transport = httpx.MockTransport(handler) if handler else httpx.ASGITransport(app)
        made.append(httpx.AsyncClient(transport=transport))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def scripted(clients):
    """A service over HTTP whose every answer comes from ``handler(request)``."""

    def make(handler, url=URL) -> RemoteService:
        return RemoteService(HttpTransport(url, client=clients(handler=handler)))

    return make
