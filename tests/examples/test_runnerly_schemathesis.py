"""Runnerly attacked from its own OpenAPI document, by schemathesis.

Runnerly runs as ``make demo`` runs it (its own process, a real port, SQLite), and a runner
registers and logs in. Schemathesis reads ``/openapi.json`` and, for every operation the
document lists (whatever routes Runnerly has by then), sends the examples, the boundary and
missing-value cases of its coverage phase, and generated requests, valid and invalid, with
her token. Every answer must pass every check schemathesis has: no 5xx, a status, content
type, headers and body the document gives, a valid request accepted and an invalid one
refused, and (``ignored_auth``) an operation that documents a security requirement refusing
the same call without the token and with a forged one.

Two checks are excused where a documented rule of the API says they cannot hold, and only
there (:func:`excused`). The run is bounded and the same every time: a fixed number of
examples per operation, derandomized, without Hypothesis's example database or deadline.
"""

from __future__ import annotations

import signal
import socket
import sys

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.examples.test_runnerly import PASSWORD, RUNNERLY, on_sqlite

EXAMPLES = 50
"""Generated requests per operation, valid and invalid, besides the examples and coverage's."""


@pytest.fixture
def runnerly(spawn, tmp_path):
    """Runnerly's base URL: ``python -m runnerly`` on a free port, its databases in tmp_path."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    here = f"http://127.0.0.1:{port}"
    flags = [*on_sqlite(tmp_path), "--server-port", str(port), "--tokens-issuer", here]
    flags += ["--auth-jwt-issuer", here, "--auth-jwt-jwks-url", f"{here}/.well-known/jwks.json"]
    process = spawn(sys.executable, "-m", "runnerly", *flags, cwd=str(RUNNERLY))
    process.wait_for("serving on http://127.0.0.1:", timeout=120)
    yield here
    process.signal(signal.SIGINT)
    status = process.finish(timeout=60)
    print(process.output)  # shown with a failure: the server's side of it
    assert status == 0


@pytest.fixture
def runner_token(runnerly):
    """The access token of a runner, registered and logged in as a client would."""
    runner = {"email": "ada@example.org", "name": "Ada", "password": PASSWORD}
    assert httpx.post(f"{runnerly}/users", json=runner, timeout=30).status_code == 201
    login = {"email": runner["email"], "password": PASSWORD}
    answer = httpx.post(f"{runnerly}/login", json=login, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


@pytest.fixture
def runnerly_schema(runnerly, runner_token):
    """The document Runnerly serves, loaded as schemathesis loads one, every check on.

    The runner's token is the credential of each bearer scheme the document declares:
    schemathesis sends it where an operation's security asks for one, leaves it out of the
    cases that test a missing credential, and knows it for the one to take away or forge
    when ``ignored_auth`` probes an operation.
    """
    url = f"{runnerly}/openapi.json"
    schemes = httpx.get(url, timeout=30).json()["components"]["securitySchemes"]
    bearer = {
        name: {"bearer": runner_token}
        for name, scheme in schemes.items()
        if scheme == {**scheme, "type": "http", "scheme": "bearer"}
    }
    assert bearer, schemes
    config = schemathesis.Config.from_dict({"auth": {"openapi": bearer}})
    schema = schemathesis.openapi.from_url(url, config=config)
    assert schema.config.checks.ignored_auth.enabled
    return schema


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request):
    """Give the test's node the ``_nodeid`` attribute schemathesis 4.32's lazy schema reads.

    pytest 9.2 keeps a node's id elsewhere; schemathesis reads and sets ``_nodeid`` to name
    each operation's subtest. The attribute is read by nothing else.
    """
    request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("runnerly_schema")


def excused(case: schemathesis.Case, response: schemathesis.Response) -> list:
    """The checks that cannot hold for this answer, for a reason the API documents.

    - JSON-RPC answers every call over HTTP with 200, errors included (docs/reference/
      jsonrpc.md, as the JSON-RPC 2.0 specification has errors in the body): a body that
      breaks the operation's schema gets an error object, never a 4xx, so
      ``negative_data_rejection`` cannot hold for the JSON-RPC operation.
    - Runnerly's messages are plain dataclasses that import no framework (an import-linter
      contract), so a rule of its domain (a password of 8 to 256 characters, a run of some
      distance in some time) is not in the document: a body the document allows may be
      refused with the documented 422, a problem naming the domain's error
      (``error_type``). Such a 422 excuses ``positive_data_acceptance``; a 422 without one
      is atoll refusing what its own document allows, and still fails.
    """
    checks = []
    if "json-rpc" in (case.operation.tags or []):
        checks.append(schemathesis.checks.negative_data_rejection)
    if response.status_code == 422 and "error_type" in _problem(response):
        checks.append(schemathesis.checks.positive_data_acceptance)
    return checks


def _problem(response: schemathesis.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@schema.parametrize()
@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_as_the_document_says_and_refuses_missing_credentials(case):
    response = case.call()
    case.validate_response(response, excluded_checks=excused(case, response))
