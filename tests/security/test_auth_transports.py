"""Every bad token is refused the same way over REST and JSON-RPC, and a good one is served.

The catalogue of tokens is :mod:`tests.security.tokens`'s: each refusal its verifier gives, a
service configured by its flags as a user would (``--auth-jwt-...``) gives over HTTP: 401 with
``WWW-Authenticate: Bearer error="invalid_token"`` and the reason, JSON-RPC -32012 with the
same reason; never the token.
"""

from __future__ import annotations

import json
import time

import pytest

import atoll
import atoll.testing
from tests.security import tokens

UNSENDABLE = {"line break inside"}  # an HTTP header cannot hold it: no client sends it
MALFORMED_REQUEST = {  # refused before any verifier reads it: how it is sent is wrong
    "empty": "Authorization: Bearer needs a token after it",
    "whitespace inside": "a bearer token holds no spaces",
    "JSON serialization": "a bearer token holds no spaces",
    "1 MB of garbage": "a bearer token holds no spaces",
}
# Within a second of the leeway's edge, as the verifier's own tests (on a clock they set)
# want them; sent to a service on the wall clock, the same cases an hour away, minted here.
NAMES = [
    refusal.name
    for refusal in tokens.refusals()
    if refusal.name not in UNSENDABLE and "beyond the leeway" not in refusal.name
]
HOUR = 3600
FAR_IN_TIME = {
    "expired an hour ago": ({"exp": -HOUR}, tokens.EXPIRED),
    "valid in an hour (nbf)": ({"nbf": HOUR}, "the token is not valid yet"),
    "issued in an hour (iat)": ({"iat": HOUR}, "the token's issue time is in the future"),
}


def jwt_argv(*more: str) -> list[str]:
    keys = [json.dumps(tokens.rsa_pair().jwk), json.dumps(tokens.ed25519_pair().jwk)]
    keys.append(tokens.ec_pair().pem)
    return [
        "--auth-jwt-issuer", tokens.ISSUER,
        "--auth-jwt-audience", tokens.AUDIENCE,
        "--auth-jwt-keys", json.dumps(keys),
        *more,
    ]  # fmt: skip


def identity_service() -> atoll.Service:
    service = atoll.Service("runs")

    @service.get("/me")
    async def me(identity: atoll.Identity) -> dict[str, object]:
        return {"kind": identity.kind, "subject": identity.subject}

    @service.rpc
    async def whoami(identity: atoll.Identity) -> str:
        return identity.subject

    @service.get("/plain")
    async def plain() -> str:
        return "no identity asked"

    return service


@pytest.fixture(scope="module")
def catalogue() -> dict[str, tokens.Refusal]:
    """The refusals, minted now: the service verifies them on the wall clock."""
    now = time.time()
    made = {refusal.name: refusal for refusal in tokens.refusals(now)}
    for name, (offsets, reason) in FAR_IN_TIME.items():
        changes = {claim: int(now) + offset for claim, offset in offsets.items()}
        made[name] = tokens.Refusal(name, tokens.mint(tokens.claims(now, **changes)), reason)
    return made


@pytest.fixture
async def harness():
    # Header fields of any size reach the verifier: past --server-max-header-bytes the HTTP
    # layer refuses them first (431, tests/endpoints/http/test_request_limits.py).
    argv = jwt_argv("--server-max-header-bytes", "2000000")
    async with atoll.testing.run(identity_service(), argv=argv) as running:
        yield running


def bearer(token: str) -> dict[str, bytes]:
    """The header carrying ``token``, as bytes: a client sends what it is given (UTF-8)."""
    return {"authorization": f"Bearer {token}".encode()}


@pytest.mark.parametrize("name", NAMES + list(FAR_IN_TIME))
async def test_a_bad_token_is_refused_alike_over_rest_and_json_rpc(harness, catalogue, name):
    refusal = catalogue[name]
    rest = await harness.client.get("/me", headers=bearer(refusal.token))
    call = {"jsonrpc": "2.0", "method": "whoami", "id": 1}
    rpc = await harness.client.post("/rpc", json=call, headers=bearer(refusal.token))
    error = rpc.json()["error"]
    if name in MALFORMED_REQUEST:
        reason, status, code = MALFORMED_REQUEST[name], 400, "invalid_request"
    else:
        reason, status, code = refusal.reason, 401, "invalid_token"
    assert (rest.status_code, rest.json()["detail"]) == (status, reason)
    assert rest.headers["www-authenticate"] == (
        f'Bearer realm="runs", error="{code}", error_description="{reason}"'
    )
    assert (error["code"], error["data"]["detail"]) == (-32012, reason)
    for answer in (rest, rpc):
        if len(refusal.token) > 8:
            assert refusal.token not in answer.text
            assert refusal.token not in str(answer.headers)


async def test_a_good_token_of_each_algorithm_proves_its_subject(harness):
    for name, token in tokens.acceptances(time.time()).items():
        if "within the leeway" in name:  # a second from its edge: the verifier's tests' case
            continue
        rest = await harness.client.get("/me", headers=bearer(token))
        assert rest.json() == {"kind": "user", "subject": "user-1"}, name
        call = {"jsonrpc": "2.0", "method": "whoami", "id": 1}
        rpc = await harness.client.post("/rpc", json=call, headers=bearer(token))
        assert rpc.json()["result"] == "user-1", name


async def test_a_handler_that_asks_for_no_identity_reads_no_token(harness, catalogue):
    answer = await harness.client.get("/plain", headers=bearer(catalogue["alg 'none'"].token))
    assert answer.json() == "no identity asked"


async def test_a_json_rpc_batch_is_authenticated_once_for_all_its_members(harness):
    token = tokens.mint(tokens.claims(time.time()))
    batch = [{"jsonrpc": "2.0", "method": "whoami", "id": n} for n in range(3)]
    answers = (await harness.client.post("/rpc", json=batch, headers=bearer(token))).json()
    assert [answer["result"] for answer in answers] == ["user-1"] * 3


async def test_default_deny_serves_a_good_token_and_refuses_none():
    argv = jwt_argv("--no-auth-anonymous")
    async with atoll.testing.run(identity_service(), argv=argv) as harness:
        token = tokens.mint(tokens.claims(time.time()))
        served = await harness.client.get("/plain", headers=bearer(token))
        refused = await harness.client.get("/plain")
    assert served.json() == "no identity asked"
    assert (refused.status_code, refused.headers["www-authenticate"]) == (
        401,
        'Bearer realm="runs"',
    )


async def test_the_readiness_and_start_of_a_service_with_static_keys():
    async with atoll.testing.run(identity_service(), argv=jwt_argv()) as harness:
        ready = await harness.client.get("/health/ready")
    assert ready.json()["checks"]["auth"] == "ok"
