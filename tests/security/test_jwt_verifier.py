"""JwtVerifier: every good token taken, every bad one refused with its reason, keys from a JWKS.

The JWKS is served for real over HTTP (uvicorn in a thread, :mod:`tests.security.jwks_server`),
and changed during a test to show rotation; the time is a :class:`~tests.security.tokens.Clock`
the test sets, so that nothing sleeps.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import sys
import threading
import time

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from atoll.adapters.jwt import JwtVerifier
from atoll.adapters.jwt.keys import KeyRefusedError, algorithms_of, thumbprint
from atoll.errors import ConfigError, LifecycleError
from atoll.kernel.options import Secret
from atoll.security.tokens import InvalidTokenError, JwtOptions, TokenVerifier
from tests.security.jwks_server import LIMIT, JwksApp, closed_port, serving, silent_server
from tests.security.tokens import (
    ALGORITHM,
    ALGORITHM_OF_KEY,
    AUDIENCE,
    ISSUER,
    NOW,
    SECRET,
    SIGNATURE,
    TOO_LARGE,
    TYPE,
    UNKNOWN_KEY,
    Clock,
    KeyPair,
    acceptances,
    claims,
    ec_pair,
    ed25519_pair,
    garbage,
    hmac_token,
    jwks,
    mint,
    options,
    refusals,
    rsa_pair,
    with_header,
)

REFUSALS = {refusal.name: refusal for refusal in refusals()}
ACCEPTANCES = acceptances()


@pytest.fixture
async def start():
    """Start verifiers; each is stopped at the end of the test."""
    started: list[JwtVerifier] = []

    async def make(opts: JwtOptions, **kwargs) -> JwtVerifier:
        verifier = JwtVerifier(opts, clock=kwargs.pop("clock", Clock()), **kwargs)
        await verifier.start()
        started.append(verifier)
        return verifier

    yield make
    for verifier in started:
        await verifier.stop()


@pytest.fixture
def jwks_app():
    """The issuer's JWKS app, serving the RSA and Ed25519 keys at first."""
    return JwksApp(jwks(rsa_pair(), ed25519_pair()))


@pytest.fixture
def jwks_url(jwks_app):
    with serving(jwks_app) as base:
        yield f"{base}/jwks.json"


def refused(reason: str):
    return pytest.raises(InvalidTokenError, match=f"^{re.escape(reason)}$")


# --- what is taken, what is refused -----------------------------------------------------------


@pytest.mark.parametrize("name", ACCEPTANCES)
async def test_a_good_token_gives_its_claims(start, name):
    verifier = await start(options())
    token = ACCEPTANCES[name]
    payload = token.split(".")[1]
    assert await verifier.verify(token) == json.loads(jwt.utils.base64url_decode(payload))


@pytest.mark.parametrize("name", REFUSALS)
async def test_a_bad_token_is_refused_with_its_reason(start, name):
    verifier = await start(options())
    refusal = REFUSALS[name]
    with refused(refusal.reason):
        await verifier.verify(refusal.token)


@pytest.mark.parametrize("name", REFUSALS)
async def test_a_refusal_holds_nothing_of_the_token(start, name):
    verifier = await start(options())
    refusal = REFUSALS[name]
    with pytest.raises(InvalidTokenError) as caught:
        await verifier.verify(refusal.token)
    message = str(caught.value)
    pieces = re.split(r"[.\s]", refusal.token)
    assert not [piece for piece in pieces if len(piece) >= 6 and piece in message]
    assert "rsa-0" not in message
    assert re.fullmatch(r"[ !#-\[\]-~]+", message), "fit for an error_description (RFC 6750)"


async def test_the_size_is_checked_before_anything_is_read(start):
    verifier = await start(options())
    with refused(TOO_LARGE):
        await verifier.verify(garbage(1024 * 1024))
    with refused("the token is malformed"):  # the same garbage, within the size: read, refused
        await verifier.verify(garbage(8192))
    with refused(TOO_LARGE):
        await verifier.verify(garbage(8193))


async def test_a_kid_of_10_kb_is_simply_not_known_when_the_size_allows_it(start):
    verifier = await start(options(max_bytes=65536))
    with refused(UNKNOWN_KEY):
        await verifier.verify(with_header({"kid": "k" * 10_240}))


_WATCHED: list[list[str]] = []
_HOOKED: list[bool] = []  # an audit hook stays for the life of the process: add it once
_WATCHED_EVENTS = frozenset(
    {"open", "os.listdir", "os.scandir", "sqlite3.connect", "socket.connect", "subprocess.Popen"}
)


def _audit(event: str, args: tuple) -> None:
    if _WATCHED and event in _WATCHED_EVENTS:
        _WATCHED[-1].append(f"{event} {args!r:.80}")


@pytest.mark.parametrize(
    "kid", ["../../etc/passwd", "/etc/passwd", "' OR 1=1 --", "\"'`;", "x" * 10_240]
)
async def test_a_hostile_kid_touches_no_file_database_or_socket(start, kid):
    verifier = await start(options(max_bytes=65536))
    await verifier.verify(mint())  # whatever a first call imports, before watching
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED.append(True)
    _WATCHED.append([])
    try:
        with refused(UNKNOWN_KEY):
            await verifier.verify(with_header({"kid": kid}))
    finally:
        seen = _WATCHED.pop()
    assert seen == []


async def test_only_at_jwt_tokens_when_only_at_jwt_is_accepted(start):
    verifier = await start(options(types=["at+jwt"]))
    await verifier.verify(mint())
    await verifier.verify(with_header({"typ": "application/AT+JWT"}))
    for id_token in (with_header({"typ": "JWT"}), with_header({"typ": None})):
        with refused(TYPE):
            await verifier.verify(id_token)
    with refused(TYPE):
        await verifier.verify(with_header({"typ": "refresh+jwt"}))


async def test_a_required_claim_of_the_service_s_own_is_required(start):
    verifier = await start(options(required=["exp", "client_id"]))
    await verifier.verify(mint(claims(client_id="web", iat=None, sub=None)))
    with refused("the token lacks the claim client_id"):
        await verifier.verify(mint())


async def test_issuer_and_audience_are_checked_even_when_not_required(start):
    verifier = await start(options(required=["exp"]))
    await verifier.verify(mint(claims(iat=None, sub=None)))
    with refused("the token lacks the claim iss"):
        await verifier.verify(mint(claims(iss=None)))
    with refused("the token lacks the claim aud"):
        await verifier.verify(mint(claims(aud=None)))


# --- the clock --------------------------------------------------------------------------------


async def test_a_token_expires_once_the_leeway_is_past(start):
    clock = Clock()
    verifier = await start(options(), clock=clock)
    token = mint(claims(exp=int(NOW) + 300))
    clock.advance(300 + 29.9)
    await verifier.verify(token)
    clock.advance(0.1)
    with refused("the token has expired"):
        await verifier.verify(token)


async def test_a_token_becomes_valid_at_its_nbf_less_the_leeway(start):
    clock = Clock()
    verifier = await start(options(leeway=0.0), clock=clock)
    token = mint(claims(nbf=int(NOW) + 60))
    with refused("the token is not valid yet"):
        await verifier.verify(token)
    clock.advance(60)
    await verifier.verify(token)


async def test_a_token_from_the_future_is_refused_until_its_iat(start):
    clock = Clock(NOW - 120)
    verifier = await start(options(), clock=clock)
    with refused("the token's issue time is in the future"):
        await verifier.verify(mint())
    clock.advance(90)
    await verifier.verify(mint())


async def test_an_exp_beyond_any_float_is_a_number_that_has_not_passed(start):
    verifier = await start(options())
    await verifier.verify(mint(claims(exp=10**400)))


# --- HMAC ----------------------------------------------------------------------------------


async def test_hs256_with_the_shared_secret(start):
    verifier = await start(options(keys=[], algorithms=["HS256"], secret=Secret(SECRET.decode())))
    await verifier.verify(hmac_token())
    with refused(SIGNATURE):
        await verifier.verify(hmac_token(secret=SECRET[::-1]))
    with refused(ALGORITHM):
        await verifier.verify(hmac_token(alg="HS384"))
    with refused(ALGORITHM):
        await verifier.verify(mint())


@pytest.mark.parametrize("form", ["pem", "ssh", "jwk"])
async def test_a_public_key_is_refused_as_an_hmac_secret(form):
    key = rsa_pair()
    text = {"pem": key.pem, "ssh": key.ssh, "jwk": json.dumps(key.jwk)}[form]
    verifier = JwtVerifier(options(keys=[], algorithms=["HS512"], secret=Secret(text)))
    with pytest.raises(ConfigError, match=r"auth\.jwt\.secret looks like a public key") as caught:
        await verifier.start()
    assert text[40:80] not in str(caught.value)


# --- keys pinned to their algorithms ----------------------------------------------------------


async def test_a_jwk_s_own_alg_pins_it_even_when_its_family_is_allowed(start):
    pinned = {**rsa_pair().jwk, "alg": "RS256"}
    verifier = await start(options(keys=[json.dumps(pinned)], algorithms=["RS256", "RS384"]))
    await verifier.verify(mint())
    with refused(ALGORITHM_OF_KEY):
        await verifier.verify(mint(alg="RS384"))


async def test_a_pem_rsa_key_checks_every_rsa_algorithm_allowed_and_no_other(start):
    verifier = await start(options(keys=[rsa_pair().pem], algorithms=["RS256", "PS256", "ES256"]))
    await verifier.verify(mint(headers={"kid": None}))
    await verifier.verify(mint(alg="PS256", headers={"kid": None}))
    with refused(UNKNOWN_KEY):  # no ES256 key: the RSA key is never tried for it
        await verifier.verify(mint(key=ec_pair(), headers={"kid": None}))


async def test_keys_from_files_certificates_and_jwks_documents(start, tmp_path):
    key = ec_pair()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "id.example.org")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public)
        .serial_number(1)
        .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
        .sign(key.private, hashes.SHA256())
    )
    (tmp_path / "idp.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "rsa.pem").write_text(rsa_pair().pem)
    (tmp_path / "jwks.json").write_text(json.dumps(jwks(ed25519_pair())))
    keys = [str(tmp_path / name) for name in ("idp.crt", "rsa.pem", "jwks.json")]
    verifier = await start(options(keys=keys))
    for pair in (ec_pair(), rsa_pair(), ed25519_pair()):
        await verifier.verify(mint(key=pair))


def private_pem() -> str:
    return (
        rsa_pair()
        .private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def small_rsa_pem() -> str:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point
    return (
        small.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (private_pem, "entry 1 is a private key: give its public key"),
        (small_rsa_pem, "entry 1 is an RSA key of 1024 bits; RSA keys need 2048 or more"),
        (
            lambda: json.dumps({**rsa_pair().jwk, "d": "AAAA"}),
            "entry 1 is a private key",
        ),
        (lambda: json.dumps({**rsa_pair().jwk, "use": "enc"}), "entry 1 has \"use\": 'enc'"),
        (lambda: json.dumps({"kty": "oct", "k": "c2VjcmV0"}), "is a symmetric (oct) key"),
        (lambda: json.dumps({**rsa_pair().jwk, "alg": "ES256"}), "has \"alg\": 'ES256', which a"),
        (lambda: json.dumps({**rsa_pair().jwk, "n": "AA"}), "is not a valid RSA key"),
        (lambda: "{not json", "entry 1 is not valid JSON"),
        (lambda: "/nonexistent/idp.pem", "entry 1 (the file /nonexistent/idp.pem) cannot be read"),
        (lambda: ec_pair().pem.split("-----END")[0], "holds no PEM block"),
        (
            lambda: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            "is not a valid public key",
        ),
    ],
)
async def test_a_key_that_cannot_verify_here_fails_the_start_naming_its_entry(entry, message):
    text = entry()
    verifier = JwtVerifier(options(keys=[text], algorithms=["RS256"]))
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        await verifier.start()
    assert "option auth.jwt.keys" in str(caught.value)
    assert "MII" not in str(caught.value)


def dsa_pem() -> str:
    key = dsa.generate_private_key(key_size=2048).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


async def test_a_key_of_a_kind_jws_does_not_use_fails_the_start():
    verifier = JwtVerifier(options(keys=[dsa_pem()]))
    with pytest.raises(ConfigError, match="is a DSAPublicKey, which no JWS algorithm uses"):
        await verifier.start()


def test_a_private_key_is_never_taken_to_verify():
    with pytest.raises(KeyRefusedError, match="is a private key"):
        algorithms_of(ed25519_pair().private)


async def test_a_key_for_no_algorithm_configured_fails_the_start():
    verifier = JwtVerifier(options(keys=[ec_pair().pem], algorithms=["RS256"]))
    with pytest.raises(ConfigError, match="is a key for ES256, which algorithms does not hold"):
        await verifier.start()


async def test_a_verifier_is_made_for_an_issuer_and_used_once_started():
    with pytest.raises(ConfigError, match="JWT verification is off"):
        JwtVerifier(JwtOptions())
    verifier = JwtVerifier(options())
    assert verifier.check() == "the JWT verifier has not started"
    with pytest.raises(LifecycleError, match="has not started"):
        await verifier.verify(mint())


async def test_it_is_a_token_verifier(start):
    verifier: TokenVerifier = await start(options())
    assert verifier.check() == "ok"


# --- pyjwt alone -----------------------------------------------------------------------------

PYJWT_LENIENT = {
    "exp a string": "int() reads the string",
    "iat a string": "int() reads the string",
    "nbf a string": "int() reads the string",
    "typ refresh+jwt": "typ is not read",
    "typ a number": "typ is not read",
    "a nested JWT": "cty is not read",
}
"""The refusals jwt.decode alone would not make, given the same issuer, audience, required
claims, leeway and the RSA key pinned to RS256: why the verifier checks those itself."""


def _at_the_leeways_edge(name: str) -> bool:
    """Whether the case is a second from the leeway's edge: on the wall clock, which pyjwt
    reads, a slow second moves it across (the verifier's own tests set their clock)."""
    return "the leeway" in name


def pyjwt_decode(token: str) -> dict:
    return jwt.decode(
        token,
        key=jwt.PyJWK(rsa_pair().jwk),
        algorithms=["RS256"],
        audience=[AUDIENCE],
        issuer=ISSUER,
        leeway=30,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )


def signed_by_the_rsa_key(token: str) -> bool:
    """Whether ``token`` says RS256 and the RSA key (or no key): what pyjwt is given to check."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return False
    return header.get("alg") == "RS256" and header.get("kid") in (None, rsa_pair().kid)


def test_pyjwt_alone_is_lenient_where_the_verifier_checks_for_itself():
    lenient = []
    for refusal in refusals(time.time()):
        if not signed_by_the_rsa_key(refusal.token) or _at_the_leeways_edge(refusal.name):
            continue
        try:
            pyjwt_decode(refusal.token)
        except jwt.PyJWTError:
            continue
        lenient.append(refusal.name)
    assert sorted(lenient) == sorted(PYJWT_LENIENT)


async def test_what_the_verifier_takes_pyjwt_takes_too(start):
    now = time.time()
    verifier = await start(options(), clock=time.time)
    taken = {
        name: token
        for name, token in acceptances(now).items()
        if signed_by_the_rsa_key(token) and not _at_the_leeways_edge(name)
    }
    assert len(taken) >= 10
    for name, token in taken.items():
        assert await verifier.verify(token) == pyjwt_decode(token), name


# --- the JWKS, served for real -----------------------------------------------------------------


def jwks_options(url: str, **changes) -> JwtOptions:
    return options(keys=[], jwks_url=url, **changes)


async def test_the_jwks_is_fetched_at_start_and_its_keys_verify(start, jwks_app, jwks_url):
    verifier = await start(jwks_options(jwks_url))
    assert jwks_app.requests == ["/jwks.json"]
    await verifier.verify(mint())
    await verifier.verify(mint(key=ed25519_pair()))
    assert jwks_app.hits == 1
    assert verifier.check() == "ok"


async def test_a_rotated_key_is_taken_and_a_retired_one_refused_without_a_restart(
    start, jwks_app, jwks_url
):
    clock = Clock()
    verifier = await start(jwks_options(jwks_url), clock=clock)
    old, new = rsa_pair(), rsa_pair(1)
    jwks_app.document = jwks(new, ed25519_pair())
    clock.advance(30)  # jwks_refresh after the fetch of the start
    await verifier.verify(mint(claims(clock()), old))  # still known: nothing asks for a fetch
    assert jwks_app.hits == 1
    await verifier.verify(mint(claims(clock()), new))  # a kid not known: fetched again
    assert jwks_app.hits == 2
    with refused(UNKNOWN_KEY):
        await verifier.verify(mint(claims(clock()), old))
    assert jwks_app.hits == 2  # within jwks_refresh of the last fetch: not fetched again


async def test_a_token_verified_before_its_key_retired_is_refused_after(start, jwks_app, jwks_url):
    clock = Clock()
    verifier = await start(jwks_options(jwks_url), clock=clock)
    old, new = rsa_pair(), rsa_pair(1)
    kept = mint(claims(clock(), exp=int(clock()) + 3600), old)
    assert (await verifier.verify(kept))["sub"] == "user-1"
    assert (await verifier.verify(kept))["sub"] == "user-1"  # again: verified once already
    jwks_app.document = jwks(new, ed25519_pair())
    clock.advance(30)
    await verifier.verify(mint(claims(clock()), new))  # a kid not known: fetched again
    with refused(UNKNOWN_KEY):
        await verifier.verify(kept)  # its key is gone: not taken for verified any longer


async def test_a_verified_tokens_claims_are_the_callers_to_change(start):
    verifier = await start(options())
    token = mint(claims())
    (await verifier.verify(token))["sub"] = "someone else"
    assert (await verifier.verify(token))["sub"] == "user-1"


async def test_unknown_kids_fetch_the_jwks_once_per_refresh_period(start, jwks_app, jwks_url):
    clock = Clock()
    verifier = await start(jwks_options(jwks_url, jwks_refresh=30.0), clock=clock)
    with refused(UNKNOWN_KEY):  # within jwks_refresh of the fetch of the start
        await verifier.verify(with_header({"kid": "a"}))
    assert jwks_app.hits == 1
    clock.advance(30)
    for kid in ("b", "c", "../../etc/passwd", "' OR 1=1 --"):
        with refused(UNKNOWN_KEY):
            await verifier.verify(with_header({"kid": kid}, claims_=claims(clock())))
    assert jwks_app.hits == 2
    clock.advance(29)
    with refused(UNKNOWN_KEY):
        await verifier.verify(with_header({"kid": "d"}, claims_=claims(clock())))
    assert jwks_app.hits == 2
    clock.advance(1)
    with refused(UNKNOWN_KEY):
        await verifier.verify(with_header({"kid": "e"}, claims_=claims(clock())))
    assert jwks_app.hits == 3
    assert set(jwks_app.requests) == {"/jwks.json"}


async def test_verifications_waiting_for_a_new_key_share_one_fetch(start, jwks_app, jwks_url):
    clock = Clock()
    verifier = await start(jwks_options(jwks_url), clock=clock)
    new = rsa_pair(1)
    jwks_app.document = jwks(rsa_pair(), new)
    clock.advance(30)
    tokens = [mint(claims(clock(), jti=f"token-{n}"), new) for n in range(10)]
    results = await asyncio.gather(*(verifier.verify(token) for token in tokens))
    assert [result["jti"] for result in results] == [f"token-{n}" for n in range(10)]
    assert jwks_app.hits == 2


async def test_the_jwks_is_fetched_again_in_the_background_once_old(start, jwks_app, jwks_url):
    clock = Clock()
    verifier = await start(jwks_options(jwks_url, jwks_max_age=600.0), clock=clock)
    jwks_app.document = jwks(rsa_pair(1))
    clock.advance(599)
    await verifier.verify(mint(claims(clock())))
    assert verifier._jwks._fetching is None
    clock.advance(1)
    await verifier.verify(mint(claims(clock())))  # the old key still serves; a fetch starts
    fetching = verifier._jwks._fetching
    assert fetching is not None
    await fetching
    assert jwks_app.hits == 2
    with refused(UNKNOWN_KEY):
        await verifier.verify(mint(claims(clock())))
    await verifier.verify(mint(claims(clock()), rsa_pair(1)))
    assert jwks_app.hits == 2


async def test_an_unreachable_jwks_leaves_the_configured_keys_working(start):
    clock = Clock(NOW + 2 * 60 + 5)  # NOW is 08:00:00 UTC
    url = closed_port()
    verifier = await start(options(jwks_url=url), clock=clock)
    await verifier.verify(mint(claims(clock())))
    assert verifier.check() == (
        f"the JWKS at {url} cannot be fetched since 08:02:05 UTC (ConnectError); "
        "the 3 keys known are used"
    )


async def test_a_jwks_out_of_reach_at_start_is_fetched_once_it_answers(start, jwks_app, jwks_url):
    jwks_app.status = 503  # the issuer is starting too
    clock = Clock()
    verifier = await start(jwks_options(jwks_url), clock=clock)
    assert verifier.check().endswith("(HTTP 503); no key is known, so every token is refused")
    with refused(UNKNOWN_KEY):
        await verifier.verify(mint(claims(clock())))
    jwks_app.status = 200
    async with asyncio.timeout(30):  # fetched again in the background: 1 s, then 2 s...
        while verifier.check() != "ok":  # noqa: ASYNC110 - a state, with nothing to wait on
            await asyncio.sleep(0.05)
    assert (await verifier.verify(mint(claims(clock()))))["sub"] == "user-1"


async def test_an_unreachable_jwks_at_start_leaves_the_service_degraded(start):
    url = closed_port()
    clock = Clock()
    verifier = await start(jwks_options(url), clock=clock)
    assert verifier.check().startswith(f"the JWKS at {url} cannot be fetched since ")
    assert "(ConnectError); no key is known, so every token is refused" in verifier.check()
    with refused(UNKNOWN_KEY):
        await verifier.verify(mint(claims(clock())))


async def test_a_silent_jwks_times_out(start):
    with silent_server() as url:
        verifier = await start(jwks_options(url, jwks_timeout=0.2))
        assert f"the JWKS at {url} cannot be fetched" in verifier.check()
        assert "(no answer within 0.2 s)" in verifier.check()


async def test_a_jwks_out_of_reach_keeps_its_last_keys_and_comes_back(start, jwks_app, jwks_url):
    clock = Clock()
    verifier = await start(jwks_options(jwks_url), clock=clock)
    jwks_app.status = 503
    clock.advance(30)
    with refused(UNKNOWN_KEY):
        await verifier.verify(mint(claims(clock()), rsa_pair(1)))
    await verifier.verify(mint(claims(clock())))
    assert verifier.check() == (
        f"the JWKS at {jwks_url} cannot be fetched since 08:00:30 UTC (HTTP 503); "
        "the 2 keys known are used"
    )
    jwks_app.status = 500
    clock.advance(30)
    with refused(UNKNOWN_KEY):
        await verifier.verify(mint(claims(clock()), rsa_pair(1)))
    assert verifier.check().endswith("since 08:00:30 UTC (HTTP 500); the 2 keys known are used")
    jwks_app.status = 200
    jwks_app.document = jwks(rsa_pair(), rsa_pair(1))
    clock.advance(30)
    await verifier.verify(mint(claims(clock()), rsa_pair(1)))
    assert verifier.check() == "ok"
    assert jwks_app.hits == 4


async def test_a_redirect_is_never_followed(start, jwks_app, jwks_url):
    elsewhere = JwksApp(jwks(rsa_pair()))
    with serving(elsewhere) as other:
        jwks_app.status = 302
        jwks_app.headers = [(b"location", f"{other}/jwks.json".encode())]
        following = httpx.AsyncClient(follow_redirects=True)
        try:
            for http in (None, following):
                verifier = JwtVerifier(jwks_options(jwks_url), http=http)
                with pytest.raises(ConfigError) as caught:
                    await verifier.start()
                assert str(caught.value).startswith(
                    f"cannot fetch the JWKS at {jwks_url}: it answers with a redirect (HTTP 302), "
                    "which is not followed"
                )
        finally:
            await following.aclose()
    assert elsewhere.hits == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>login</html>", "the answer is not JSON"),
        (b'{"keys": {}}', 'the answer is no JWKS (a {"keys": [...]} object)'),
        (b"[]", "the answer is no JWKS"),
        (b'{"keys": []}', "it holds no key usable here: it is empty"),
        (b" " * (512 * 1024 + 1), "the answer is larger than 524288 bytes"),
    ],
)
async def test_a_jwks_that_is_not_one_fails_the_start_naming_why(jwks_app, jwks_url, body, reason):
    jwks_app.body = body
    verifier = JwtVerifier(jwks_options(jwks_url))
    with pytest.raises(ConfigError, match=re.escape(reason)):
        await verifier.start()


async def test_a_jwks_takes_only_signing_keys_of_the_algorithms_allowed(start, jwks_app, jwks_url):
    rsa_key, ed_key, ec_key = rsa_pair(), ed25519_pair(), ec_pair()
    other = rsa_pair(1)
    p384 = KeyPair("ES384", "p384", ec.generate_private_key(ec.SECP384R1()), None)
    p384 = KeyPair("ES384", "p384", p384.private, p384.private.public_key())
    jwks_app.document = {
        "keys": [
            rsa_key.jwk,
            {**ed_key.jwk, "use": "enc"},
            {key: value for key, value in ec_key.jwk.items() if key != "use"},
            {**other.jwk, "alg": "RS512"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "use": "sig"},
            {**rsa_pair(2).jwk, "d": "AAAA"},
            {**rsa_pair(3).jwk, "key_ops": ["encrypt"]},
            "not a key",
            {"kty": "RSA", "kid": "broken", "n": 7, "e": "AQAB", "use": "sig"},
            {**p384.jwk, "alg": None},
            {**ec_pair(1).jwk, "kid": 5},
            {"kty": "OCT", "kid": "x", "use": "sig"},
        ]
    }
    verifier = await start(jwks_options(jwks_url, algorithms=["RS256", "EdDSA", "ES256"]))
    await verifier.verify(mint(key=rsa_key))
    for key in (ed_key, ec_key, rsa_pair(2), rsa_pair(3), ec_pair(1)):
        with refused(UNKNOWN_KEY):
            await verifier.verify(mint(key=key, headers={"kid": key.kid}))
    for key, alg in ((other, "RS512"), (p384, "ES384")):  # not allowed: their keys are ignored
        with refused(ALGORITHM):
            await verifier.verify(mint(key=key, alg=alg))


async def test_jku_and_x5u_are_never_fetched(start, jwks_app, jwks_url):
    attacker = rsa_pair(9)
    theirs = JwksApp(jwks(attacker))
    with serving(theirs) as their_base:
        verifier = await start(jwks_options(jwks_url))
        for header in ({"jku": f"{their_base}/jwks.json"}, {"x5u": f"{their_base}/cert.pem"}):
            with refused(UNKNOWN_KEY):
                await verifier.verify(mint(key=attacker, headers=header))
    assert theirs.hits == 0
    assert set(jwks_app.requests) == {"/jwks.json"}


async def test_stopping_during_a_fetch_refuses_the_tokens_waiting_for_it(jwks_app, jwks_url):
    clock = Clock()
    verifier = JwtVerifier(jwks_options(jwks_url), clock=clock)
    await verifier.start()
    jwks_app.hold = threading.Event()
    jwks_app.arrived.clear()
    clock.advance(30)
    waiting = asyncio.create_task(verifier.verify(mint(claims(clock()), rsa_pair(1))))
    try:
        assert await asyncio.to_thread(jwks_app.arrived.wait, LIMIT)
        await verifier.stop()
        with refused(UNKNOWN_KEY):
            await waiting
    finally:
        jwks_app.hold.set()
    clock.advance(30)
    with refused(UNKNOWN_KEY):  # stopped: no fetch, the keys known only
        await verifier.verify(mint(claims(clock()), rsa_pair(1)))
    await verifier.verify(mint(claims(clock())))
    assert "(the verifier is stopped)" in verifier.check()
    assert jwks_app.hits == 2


async def test_a_verification_cancelled_while_waiting_leaves_the_fetch_to_the_others(
    start, jwks_app, jwks_url
):
    clock = Clock()
    verifier = await start(jwks_options(jwks_url), clock=clock)
    jwks_app.document = jwks(rsa_pair(), rsa_pair(1))
    jwks_app.hold = threading.Event()
    jwks_app.arrived.clear()
    clock.advance(30)
    token = mint(claims(clock()), rsa_pair(1))
    cancelled = asyncio.create_task(verifier.verify(token))
    kept = asyncio.create_task(verifier.verify(token))
    try:
        assert await asyncio.to_thread(jwks_app.arrived.wait, LIMIT)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
    finally:
        jwks_app.hold.set()
    assert (await kept)["sub"] == "user-1"
    assert jwks_app.hits == 2


async def test_stop_closes_its_own_client_and_never_one_it_was_given(jwks_url):
    given = httpx.AsyncClient()
    try:
        verifier = JwtVerifier(jwks_options(jwks_url), http=given)
        await verifier.start()
        await verifier.stop()
        assert not given.is_closed
        own = JwtVerifier(jwks_options(jwks_url))
        await own.start()
        client = own._jwks._http
        await own.stop()
        assert client is not None
        assert client.is_closed
    finally:
        await given.aclose()


RFC_7638_KEY = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJ"
    "ECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Q"
    "vzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6"
    "WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_a_thumbprint_is_the_one_rfc_7638_computes_for_its_example() -> None:
    assert thumbprint(RFC_7638_KEY) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_a_thumbprint_ignores_the_members_a_key_does_not_need() -> None:
    bare = {name: RFC_7638_KEY[name] for name in ("kty", "n", "e")}
    assert thumbprint(bare) == thumbprint({**RFC_7638_KEY, "use": "sig"})


@pytest.mark.parametrize(
    ("jwk", "said"),
    [({"kty": "oct", "k": "c2VjcmV0"}, "kty"), ({"kty": "OKP", "crv": "Ed25519"}, "'x'")],
)
def test_a_thumbprint_of_no_public_key_is_refused(jwk: dict[str, str], said: str) -> None:
    with pytest.raises(KeyRefusedError, match=said):
        thumbprint(jwk)
