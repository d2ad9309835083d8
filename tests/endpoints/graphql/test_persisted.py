"""Automatic persisted queries: a document sent once with its hash, then by its hash alone."""

from __future__ import annotations

import hashlib
import json

import atoll
from atoll.testing import run

QUERY = "{ total }"
HASH = hashlib.sha256(QUERY.encode()).hexdigest()


def counter() -> atoll.Service:
    service = atoll.Service("counter")

    @service.rpc
    @service.get("/total")
    async def total() -> int:
        return 42

    service.graphql()
    return service


def persisted(sha: str = HASH, version: int = 1) -> dict:
    return {"persistedQuery": {"version": version, "sha256Hash": sha}}


async def test_a_hash_unknown_is_asked_for_then_answered_once_sent_with_its_query():
    async with run(counter()) as harness:
        unknown = await harness.client.post("/graphql", json={"extensions": persisted()})
        sent = await harness.client.post(
            "/graphql", json={"query": QUERY, "extensions": persisted()}
        )
        again = await harness.client.post("/graphql", json={"extensions": persisted()})
        over_get = await harness.client.get(
            "/graphql", params={"extensions": json.dumps(persisted())}
        )
    assert unknown.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    assert sent.json() == again.json() == over_get.json() == {"data": {"total": 42}}


async def test_a_hash_that_is_not_the_querys_is_refused_and_nothing_kept():
    async with run(counter()) as harness:
        forged = await harness.client.post(
            "/graphql", json={"query": QUERY, "extensions": persisted("0" * 64)}
        )
        later = await harness.client.post("/graphql", json={"extensions": persisted("0" * 64)})
        odd = await harness.client.post("/graphql", json={"extensions": persisted(version=2)})
    assert forged.json()["errors"][0]["message"] == (
        "the sha256Hash of persistedQuery is not the query's"
    )
    assert forged.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert later.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert odd.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_without_persisted_queries_a_hash_alone_is_no_request():
    async with run(counter(), argv=["--no-graphql-persisted-queries"]) as harness:
        await harness.client.post("/graphql", json={"query": QUERY, "extensions": persisted()})
        alone = await harness.client.post("/graphql", json={"extensions": persisted()})
    assert alone.status_code == 400
    assert 'it has no "query"' in alone.json()["detail"]
