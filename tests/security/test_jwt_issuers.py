"""Several issuers trusted by one service: each token verified by its own issuer's keys alone."""

from __future__ import annotations

import json
import time

import pytest

import atoll
import atoll.testing
from atoll.adapters.jwt import IssuersVerifier, JwtVerifier, verifier_for
from atoll.security.tokens import InvalidTokenError, JwtOptions
from tests.security.jwks_server import JwksApp, closed_port, serving
from tests.security.tokens import (
    AUDIENCE,
    ISSUER,
    ISSUER_REFUSED,
    SIGNATURE,
    claims,
    jwks,
    mint,
    options,
    rsa_pair,
)

OTHER = "https://accounts.example.org"


@pytest.fixture
def other_jwks_url():
    with serving(JwksApp(jwks(rsa_pair(1)))) as base:
        yield f"{base}/jwks.json"


@pytest.fixture
async def verifier(other_jwks_url):
    made = verifier_for(options(trusted=[f"{OTHER}={other_jwks_url}"]))
    await made.start()
    yield made
    await made.stop()


def test_one_issuer_gives_its_verifier_and_several_a_verifier_of_each():
    assert isinstance(verifier_for(options()), JwtVerifier)
    several = verifier_for(options(trusted=[f"{OTHER}=https://accounts.example.org/jwks"]))
    assert isinstance(several, IssuersVerifier)
    assert list(several.verifiers) == [ISSUER, OTHER]
    assert several.verifiers[OTHER].options.jwks_url == "https://accounts.example.org/jwks"
    assert several.verifiers[OTHER].options.audience == [AUDIENCE]  # the same checks


async def test_a_token_of_each_issuer_is_verified_by_its_own_keys(verifier):
    now = time.time()
    assert (await verifier.verify(mint(claims(now))))["iss"] == ISSUER
    other = await verifier.verify(mint(claims(now, iss=OTHER), rsa_pair(1)))
    assert other["iss"] == OTHER
    assert verifier.check() == "ok"


async def test_a_token_naming_one_issuer_signed_by_another_s_key_is_refused(verifier):
    now = time.time()
    with pytest.raises(InvalidTokenError) as refused:  # the first issuer's key, OTHER's iss
        await verifier.verify(mint(claims(now, iss=OTHER), rsa_pair()))
    assert str(refused.value) in {SIGNATURE, "the token's key is not known"}
    with pytest.raises(InvalidTokenError):
        await verifier.verify(mint(claims(now), rsa_pair(1)))


@pytest.mark.parametrize(
    ("issuer", "reason"),
    [
        ("https://evil.example.org", ISSUER_REFUSED),
        (OTHER + "/", ISSUER_REFUSED),  # a superstring of a trusted one
        (["https://id.example.org/"], ISSUER_REFUSED),
        (None, "the token lacks the claim iss"),
    ],
)
async def test_a_token_of_no_trusted_issuer_is_refused_before_any_key(verifier, issuer, reason):
    with pytest.raises(InvalidTokenError, match=reason):
        await verifier.verify(mint(claims(time.time(), iss=issuer)))


async def test_a_malformed_or_oversized_token_is_refused_before_its_issuer_is_read(verifier):
    with pytest.raises(InvalidTokenError, match="malformed"):
        await verifier.verify("not.a-token")
    with pytest.raises(InvalidTokenError, match="too large"):
        await verifier.verify("a" * 9000)


async def test_an_issuer_out_of_reach_degrades_readiness_and_leaves_the_others_working():
    url = closed_port()
    made = verifier_for(options(trusted=[f"{OTHER}={url}/jwks.json"]))
    await made.start()
    try:
        assert f"the JWKS at {url}/jwks.json cannot be fetched" in made.check()
        assert (await made.verify(mint(claims(time.time()))))["iss"] == ISSUER
    finally:
        await made.stop()


@pytest.mark.parametrize(
    ("trusted", "message"),
    [
        (["accounts.example.org"], "which is not ISSUER=JWKS_URL"),
        ([f"{OTHER}=http://accounts.example.org/jwks"], "is not an https URL"),
        ([f"{ISSUER}=https://id.example.org/jwks"], "is trusted twice"),
        ([f"{OTHER}=https://a/j", f"{OTHER}=https://b/j"], "is trusted twice"),
    ],
)
def test_a_trusted_entry_that_cannot_be_used_is_refused_naming_it(trusted, message):
    with pytest.raises(ValueError, match=message):
        options(trusted=trusted)


def test_trusted_issuers_need_an_issuer_and_public_key_algorithms():
    with pytest.raises(ValueError, match="trusted is set but issuer is empty"):
        JwtOptions(trusted=[f"{OTHER}=https://accounts.example.org/jwks"])
    with pytest.raises(ValueError, match="a JWKS does not serve"):
        JwtOptions(
            issuer=ISSUER,
            audience=[AUDIENCE],
            algorithms=["HS256"],
            secret=atoll.Secret("0123456789abcdef0123456789abcdef"),
            trusted=[f"{OTHER}=https://accounts.example.org/jwks"],
        )


async def test_a_service_trusts_each_issuer_of_its_options(other_jwks_url):
    service = atoll.Service("runs")

    @service.get("/whoami")
    async def whoami(identity: atoll.Identity) -> str:
        return f"{identity.issuer} {identity.subject}"

    argv = ["--auth-jwt-issuer", ISSUER, "--auth-jwt-audience", AUDIENCE]
    argv += ["--auth-jwt-keys", json.dumps(options().keys[:1])]  # a JSON list: a JWK has commas
    argv += ["--auth-jwt-trusted", f"{OTHER}={other_jwks_url}"]
    async with atoll.testing.run(service, argv=argv) as harness:
        token = mint(claims(time.time(), iss=OTHER, sub="bo"), rsa_pair(1))
        answer = await harness.client.get("/whoami", headers={"authorization": f"Bearer {token}"})
    assert answer.json() == f"{OTHER} bo"
