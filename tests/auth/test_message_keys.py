"""Message keys: registered at POST /oauth/message-keys, published in their own JWKS."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from atoll.adapters.jwt.envelopes import key_proof
from atoll.auth import Clock, TokenOptions
from atoll.auth.clients import Registrations
from atoll.auth.message_keys import SIGN_MESSAGES_SCOPE, MessageKeys
from atoll.auth.tables import AuthUnitOfWork
from atoll.errors import ConflictError
from tests.auth.conftest import NOW, add_client, basic, running

ENDPOINT = "/oauth/message-keys"
JWKS = "/.well-known/message-keys.json"
WEEK = 604800
SCOPES = ("runs:write", SIGN_MESSAGES_SCOPE)
"""A signer's scopes: its own, and the one that lets it register message keys."""


@dataclasses.dataclass(frozen=True)
class _Key:
    """An Ed25519 key pair as a signer makes it: its private key, and the public JWK."""

    private: Ed25519PrivateKey
    jwk: dict

    @property
    def kid(self) -> str:
        return self.jwk["kid"]

    def proof(self, client_id: str, now: float) -> str:
        """The proof that ``client_id`` holds this key, made at ``now``."""
        return key_proof(self.private, self.kid, client_id, now)


def _new_key() -> _Key:
    """A new key pair; the ``kid`` is the RFC 7638 thumbprint, computed as the RFC spells it."""
    private = Ed25519PrivateKey.generate()
    jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    required = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":")
    )
    digest = hashlib.sha256(required.encode()).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return _Key(private, {**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"})


async def _register(harness, auth, key, *, jwk=None, proof=None, **form):
    """POST ``key``'s public JWK (or ``jwk`` in its place) with a proof by ``key``.

    The proof is made on the service's clock, for the client ``auth`` (or ``client_id`` in
    ``form``) names, unless ``proof`` is given.
    """
    sent = key.jwk if jwk is None else jwk
    if proof is None:
        now = (await harness.container.aget(Clock))()
        proof = key.proof(form.get("client_id") or _client_id(auth), now)
    data = {"jwk": sent if isinstance(sent, str) else json.dumps(sent), "proof": proof, **form}
    return await harness.client.post(ENDPOINT, data=data, headers=auth)


def _client_id(auth: dict[str, str]) -> str:
    """The client id of ``auth``'s Basic credentials, or ``nobody`` without any."""
    if "authorization" not in auth:
        return "nobody"
    credentials = base64.b64decode(auth["authorization"].removeprefix("Basic "))
    return credentials.decode().partition(":")[0]


async def _published(harness) -> list[dict]:
    return (await harness.client.get(JWKS)).json()["keys"]


async def _kept(harness) -> dict[str, str]:
    """The keys in the database, published or expired: each kid's client."""
    message_keys = await harness.container.aget(MessageKeys)
    async with AuthUnitOfWork(message_keys.database) as uow:
        return {key.kid: key.client_id for key in await uow.message_keys.find()}


async def _worker(harness, client_id="runs-worker") -> dict[str, str]:
    """Register a client that may sign messages; its Basic credentials."""
    return basic(client_id, await add_client(harness, client_id, scopes=SCOPES))


@pytest.fixture(params=["memory", "sqlite"])
def database(request, tmp_path) -> list[str]:
    """The flags of the token service's database: memory://, or a SQLite file."""
    if request.param == "memory":
        return []
    return ["--db-url", f"sqlite+aiosqlite:///{tmp_path}/auth.db"]


# -- registering ----------------------------------------------------------------------------


async def test_a_client_registers_a_public_key_and_gets_its_kid_and_lifetime(clock, database):
    async with running(clock, *database) as harness:
        key = _new_key()
        response = await _register(harness, await _worker(harness), key)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.json() == {"kid": key.kid, "expires_in": WEEK}


async def test_the_message_jwks_publishes_the_key_with_its_client(clock, database):
    async with running(clock, *database) as harness:
        key = _new_key()
        await _register(harness, await _worker(harness), key)
        response = await harness.client.get(JWKS)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=300"
        assert response.json() == {"keys": [{**key.jwk, "client_id": "runs-worker"}]}


async def test_a_key_is_published_with_exactly_the_members_of_a_message_key(clock):
    async with running(clock) as harness:
        key = _new_key()
        sent = {k: v for k, v in key.jwk.items() if k not in ("alg", "use")}
        sent["key_ops"] = ["verify"]
        response = await _register(harness, await _worker(harness), key, jwk=sent)
        assert response.status_code == 200
        (published,) = await _published(harness)
        assert list(published) == ["kty", "crv", "x", "kid", "alg", "use", "client_id"]
        assert published == {**key.jwk, "client_id": "runs-worker"}


async def test_the_key_published_verifies_what_its_private_key_signed(clock):
    async with running(clock) as harness:
        key = _new_key()
        await _register(harness, await _worker(harness), key)
        (published,) = await _published(harness)
        public = OKPAlgorithm.from_jwk(published)
        message = b'{"type":"RunRecorded","run_id":7}'
        signature = key.private.sign(message)
        assert OKPAlgorithm().verify(message, public, signature)
        assert not OKPAlgorithm().verify(message + b" ", public, signature)


async def test_the_client_authenticates_with_client_id_and_secret_in_the_form_too(clock):
    async with running(clock) as harness:
        secret = await add_client(harness, scopes=SCOPES)
        key = _new_key()
        response = await _register(harness, {}, key, client_id="runs-worker", client_secret=secret)
        assert response.status_code == 200
        assert [key["client_id"] for key in await _published(harness)] == ["runs-worker"]


@pytest.mark.parametrize(
    "credentials", [None, ("runs-worker", "not-its-secret"), ("nobody", "x")], ids=repr
)
async def test_a_client_not_authenticated_is_invalid_client(clock, credentials):
    async with running(clock) as harness:
        await _worker(harness)
        headers = basic(*credentials) if credentials else {}
        response = await _register(harness, headers, _new_key())
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"] == 'Basic realm="auth"'
        assert response.headers["cache-control"] == "no-store"
        assert await _published(harness) == []


async def test_a_client_without_the_scope_to_sign_messages_is_invalid_scope(clock, caplog):
    async with running(clock) as harness:
        secret = await add_client(harness, "stats-worker", scopes=("runs:read",))
        with caplog.at_level(logging.INFO, logger="atoll.auth"):
            response = await _register(harness, basic("stats-worker", secret), _new_key())
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_scope"
        description = response.json()["error_description"]
        assert "'stats-worker' may not register message keys" in description
        assert "atoll auth clients add --client-id stats-worker --scope atoll:sign-messages" in (
            description
        )
        assert await _published(harness) == []
    assert "refused a message key to client stats-worker: no scope" in caplog.text


def test_the_scope_to_sign_messages_is_atoll_sign_messages():
    assert SIGN_MESSAGES_SCOPE == "atoll:sign-messages"


def _without(name):
    return lambda jwk: {k: v for k, v in jwk.items() if k != name}


def _with(**members):
    return lambda jwk: {**jwk, **members}


def _x_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _x_off_canonical(jwk):
    """``x`` spelled with the unused low bits of its last character set: the same 32 bytes."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(jwk["x"][-1]) | 1]
    return {**jwk, "x": jwk["x"][:-1] + last}


@pytest.mark.parametrize(
    ("change", "description"),
    [
        (lambda jwk: "not json", "jwk is not JSON"),
        (lambda jwk: json.dumps([jwk]), "jwk is not a JSON object"),
        (_with(kty="EC"), "message keys are Ed25519"),
        (_with(crv="Ed448"), "message keys are Ed25519"),
        (_without("kty"), "message keys are Ed25519"),
        (_with(x=_x_of(b"\x01" * 31)), "32-byte Ed25519 public key in base64url"),
        (_with(x=_x_of(b"\x01" * 33)), "32-byte Ed25519 public key in base64url"),
        (lambda jwk: {**jwk, "x": jwk["x"] + "="}, "32-byte Ed25519 public key in base64url"),
        (lambda jwk: {**jwk, "x": jwk["x"][:-1] + "+"}, "32-byte Ed25519 public key"),
        (_x_off_canonical, "32-byte Ed25519 public key in base64url"),
        (_with(x=12), "32-byte Ed25519 public key in base64url"),
        (_without("x"), "32-byte Ed25519 public key in base64url"),
        (_with(use="enc"), 'a message key signs: send "use": "sig"'),
        (_with(alg="RS256"), 'signs with EdDSA: send "alg": "EdDSA"'),
        (_with(alg="Ed25519"), 'signs with EdDSA: send "alg": "EdDSA"'),
        (_without("kid"), 'jwk has no "kid": send its RFC 7638 thumbprint'),
        (_with(kid="k1"), 'jwk has another "kid": send its RFC 7638 thumbprint'),
    ],
    ids=[
        "not-json",
        "a-list",
        "kty-EC",
        "crv-Ed448",
        "no-kty",
        "x-31-bytes",
        "x-33-bytes",
        "x-padded",
        "x-base64-not-url",
        "x-not-canonical",
        "x-a-number",
        "no-x",
        "use-enc",
        "alg-RS256",
        "alg-Ed25519",
        "no-kid",
        "another-kid",
    ],
)
async def test_a_key_that_is_no_public_ed25519_message_key_is_refused(clock, change, description):
    async with running(clock) as harness:
        key = _new_key()
        response = await _register(harness, await _worker(harness), key, jwk=change(key.jwk))
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert description in response.json()["error_description"]
        assert response.headers["cache-control"] == "no-store"
        assert await _published(harness) == []


async def test_a_wrong_kid_is_told_the_thumbprint_to_send(clock):
    async with running(clock) as harness:
        key = _new_key()
        wrong = {**key.jwk, "kid": "k1"}
        response = await _register(harness, await _worker(harness), key, jwk=wrong)
        assert f'"kid": "{key.kid}"' in response.json()["error_description"]


async def test_a_private_key_is_refused_and_neither_answered_nor_logged(clock, caplog):
    caplog.set_level(logging.DEBUG)
    key = _new_key()
    d = OKPAlgorithm.to_jwk(key.private, as_dict=True)["d"]
    async with running(clock) as harness:
        response = await _register(harness, await _worker(harness), key, jwk={**key.jwk, "d": d})
        assert response.status_code == 400
        assert "send the public key only" in response.json()["error_description"]
        assert await _published(harness) == []
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert d not in logged
    assert d not in response.text


async def test_a_request_without_jwk_is_invalid_request(clock):
    async with running(clock) as harness:
        response = await harness.client.post(
            ENDPOINT, data={"kid": "k1"}, headers=await _worker(harness)
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert "jwk is missing" in response.json()["error_description"]


async def test_a_request_without_proof_is_told_how_to_make_one(clock):
    async with running(clock) as harness:
        data = {"jwk": json.dumps(_new_key().jwk)}
        response = await harness.client.post(ENDPOINT, data=data, headers=await _worker(harness))
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        description = response.json()["error_description"]
        assert description.startswith("proof is missing: send proof=<a JWS by the key itself")
        assert '"typ": "atoll-key-proof"' in description
        assert await _published(harness) == []


def _jws(key: _Key, header: dict, payload: dict) -> str:
    """A JWS compact serialization by ``key`` of ``header`` and ``payload``, as given."""
    signed = b".".join(_b64(json.dumps(part).encode()) for part in (header, payload))
    return (signed + b"." + _b64(key.private.sign(signed))).decode()


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_NESTED = _b64(b"[" * 1000 + b"]" * 1000).decode()
"""A JSON header nested deeper than the decoder goes."""


@pytest.mark.parametrize(
    ("prove", "description"),
    [
        (
            lambda key, other: key_proof(other.private, key.kid, "runs-worker", NOW),
            "proof is not signed by the key registered",
        ),
        (lambda key, other: other.proof("runs-worker", NOW), "proof's header is not the key's"),
        (lambda key, other: key.proof("stats-worker", NOW), "made for another client"),
        (
            lambda key, other: _jws(
                key,
                {"alg": "EdDSA", "kid": key.kid, "typ": "atoll-envelope"},
                {"client_id": "runs-worker", "iat": NOW},
            ),
            "proof's header is not the key's, typ atoll-key-proof",
        ),
        (
            lambda key, other: _jws(
                key, {"alg": "EdDSA", "kid": key.kid, "typ": "atoll-key-proof"}, {"iat": NOW}
            ),
            "made for another client",
        ),
        (lambda key, other: "x", "proof is no JWS"),
        (lambda key, other: f"{_NESTED}.e30.AA", "proof is no JWS"),
    ],
    ids=[
        "by-another-key-under-this-kid",
        "by-another-key-under-its-kid",
        "for-another-client",
        "a-signature-of-another-type",
        "for-no-client",
        "no-jws",
        "a-header-nested-too-deep",
    ],
)
async def test_a_proof_that_does_not_show_the_client_holds_the_key_is_refused(
    clock, prove, description
):
    async with running(clock) as harness:
        key = _new_key()
        response = await _register(
            harness, await _worker(harness), key, proof=prove(key, _new_key())
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert description in response.json()["error_description"]
        assert await _published(harness) == []


@pytest.mark.parametrize(
    ("made", "status"),
    [(-300, 200), (-301, 400), (300, 200), (301, 400)],
    ids=["300-s-old", "301-s-old", "300-s-ahead", "301-s-ahead"],
)
async def test_a_proof_made_over_300_s_from_the_services_clock_is_refused(clock, made, status):
    async with running(clock) as harness:
        key, auth = _new_key(), await _worker(harness)
        proof = key.proof("runs-worker", NOW + made)
        response = await _register(harness, auth, key, proof=proof)
        assert response.status_code == status
        if status == 400:
            assert "proof's iat is not within 300 s of now" in response.json()["error_description"]


async def test_a_proof_is_stale_once_the_clock_passes_300_s(clock):
    async with running(clock) as harness:
        key, auth = _new_key(), await _worker(harness)
        proof = key.proof("runs-worker", NOW)
        clock.advance(301)
        response = await _register(harness, auth, key, proof=proof)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert "make a new proof" in response.json()["error_description"]
        assert await _published(harness) == []


@pytest.mark.parametrize(
    ("content", "headers", "url", "status"),
    [
        (b"jwk=%7B%7D", {"content-type": "application/json"}, ENDPOINT, 400),
        (b"jwk=%7B%7D", None, ENDPOINT + "?jwk=x", 400),
        (b"jwk=" + b"a" * 5000, None, ENDPOINT, 413),
        (b"jwk=a&jwk=b", None, ENDPOINT, 400),
    ],
)
async def test_the_endpoint_reads_requests_as_the_token_endpoint(
    clock, content, headers, url, status
):
    async with running(clock) as harness:
        sent = {"content-type": "application/x-www-form-urlencoded", **await _worker(harness)}
        sent.update(headers or {})
        response = await harness.client.post(url, content=content, headers=sent)
        assert response.status_code == status
        assert response.json()["error"] == "invalid_request"


async def test_the_endpoint_takes_post_only(clock):
    async with running(clock) as harness:
        response = await harness.client.get(ENDPOINT)
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert response.json()["error"] == "invalid_request"


# -- renewal, another client's key, expiry, the cap -----------------------------------------


async def test_registering_a_key_again_publishes_it_for_the_lifetime_from_then(clock, database):
    lifetime = ("--tokens-message-key-lifetime", "100")
    async with running(clock, *lifetime, *database) as harness:
        auth, key = await _worker(harness), _new_key()
        await _register(harness, auth, key)
        clock.advance(60)
        again = await _register(harness, auth, key)
        assert again.status_code == 200
        assert again.json() == {"kid": key.kid, "expires_in": 100}
        clock.advance(99)  # 159: past the first registration's end
        assert [published["kid"] for published in await _published(harness)] == [key.kid]
        clock.advance(1)
        assert await _published(harness) == []


async def test_a_key_another_client_holds_is_refused(clock, database):
    async with running(clock, *database) as harness:
        key = _new_key()
        await _register(harness, await _worker(harness), key)
        # Even with the private key, so with a proof that holds, for stats-worker.
        response = await _register(harness, await _worker(harness, "stats-worker"), key)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert "registered by another client" in response.json()["error_description"]
        assert [published["client_id"] for published in await _published(harness)] == [
            "runs-worker"
        ]


async def test_a_key_leaves_the_jwks_when_its_lifetime_ends(clock):
    async with running(clock, "--tokens-message-key-lifetime", "100") as harness:
        key = _new_key()
        await _register(harness, await _worker(harness), key)
        clock.advance(99)
        assert [published["kid"] for published in await _published(harness)] == [key.kid]
        clock.advance(1)
        assert await _published(harness) == []


async def test_expired_keys_are_deleted_when_a_key_is_registered(clock, database):
    async with running(clock, "--tokens-message-key-lifetime", "100", *database) as harness:
        old = _new_key()
        await _register(harness, await _worker(harness), old)
        clock.advance(100)
        new = _new_key()
        await _register(harness, await _worker(harness, "stats-worker"), new)
        assert await _kept(harness) == {new.kid: "stats-worker"}


async def test_an_expired_key_is_registered_again_by_its_client_as_a_new_one(clock, database):
    async with running(clock, "--tokens-message-key-lifetime", "100", *database) as harness:
        runs, stats = await _worker(harness), await _worker(harness, "stats-worker")
        mine, theirs = _new_key(), _new_key()
        await _register(harness, runs, mine)
        clock.advance(50)
        await _register(harness, stats, theirs)
        clock.advance(50)  # mine expired, still in the database
        response = await _register(harness, runs, mine)
        assert response.status_code == 200
        published = [(jwk["kid"], jwk["client_id"]) for jwk in await _published(harness)]
        assert published == [(theirs.kid, "stats-worker"), (mine.kid, "runs-worker")]


async def test_another_client_never_takes_an_expired_kid_even_with_its_private_key(clock, database):
    async with running(clock, "--tokens-message-key-lifetime", "100", *database) as harness:
        key = _new_key()
        await _register(harness, await _worker(harness), key)
        clock.advance(100)  # expired, still in the database
        # The proof holds: stats-worker signs it with the key, for itself.
        response = await _register(harness, await _worker(harness, "stats-worker"), key)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        description = response.json()["error_description"]
        assert "registered by another client, and a kid never changes hands" in description
        assert await _published(harness) == []
        assert await _kept(harness) == {key.kid: "runs-worker"}


async def test_keys_are_published_in_the_order_they_were_registered(clock):
    async with running(clock) as harness:
        runs, stats = await _worker(harness), await _worker(harness, "stats-worker")
        keys = [_new_key() for _ in range(3)]
        for key, auth in zip(keys, (runs, stats, runs), strict=True):
            await _register(harness, auth, key)
            clock.advance(1)
        await _register(harness, runs, keys[0])  # a renewal keeps its place
        published = await _published(harness)
        assert [jwk["kid"] for jwk in published] == [key.kid for key in keys]
        owners = [jwk["client_id"] for jwk in published]
        assert owners == ["runs-worker", "stats-worker", "runs-worker"]


async def test_one_key_more_than_a_client_may_have_removes_its_oldest(clock, database):
    async with running(clock, "--tokens-message-keys-per-client", "2", *database) as harness:
        runs, stats = await _worker(harness), await _worker(harness, "stats-worker")
        first, second, third, others = (_new_key() for _ in range(4))
        await _register(harness, stats, others)
        for key in (first, second, third):
            clock.advance(1)
            assert (await _register(harness, runs, key)).status_code == 200
        published = [jwk["kid"] for jwk in await _published(harness)]
        assert published == [others.kid, second.kid, third.kid]


async def test_removing_a_clients_oldest_keys_warns_naming_them_and_the_option(clock, caplog):
    async with running(clock, "--tokens-message-keys-per-client", "2") as harness:
        auth = await _worker(harness)
        first, second, third = (_new_key() for _ in range(3))
        with caplog.at_level(logging.INFO, logger="atoll.auth"):
            for key in (first, second, second, third):
                clock.advance(1)
                assert (await _register(harness, auth, key)).status_code == 200
    (warning,) = [record for record in caplog.records if record.levelno >= logging.WARNING]
    logged = warning.getMessage()
    assert warning.levelno == logging.WARNING
    assert f"removed message key(s) {first.kid} of client runs-worker to publish {third.kid}" in (
        logged
    )
    assert "messages still signed with them will be refused" in logged
    assert "raise --tokens-message-keys-per-client above the number of processes" in logged
    assert second.kid not in logged


async def test_the_key_registered_least_recently_is_the_oldest(clock):
    async with running(clock, "--tokens-message-keys-per-client", "2") as harness:
        auth = await _worker(harness)
        first, second, third = (_new_key() for _ in range(3))
        for key in (first, second, first, third):  # first renewed after second
            clock.advance(1)
            await _register(harness, auth, key)
        assert [jwk["kid"] for jwk in await _published(harness)] == [first.kid, third.kid]


async def test_a_client_with_one_key_allowed_replaces_it(clock):
    async with running(clock, "--tokens-message-keys-per-client", "1") as harness:
        auth = await _worker(harness)
        first, second = _new_key(), _new_key()
        await _register(harness, auth, first)
        await _register(harness, auth, first)  # a renewal is no key more
        assert [jwk["kid"] for jwk in await _published(harness)] == [first.kid]
        await _register(harness, auth, second)
        assert [jwk["kid"] for jwk in await _published(harness)] == [second.kid]


async def test_removing_a_client_removes_its_keys_and_no_others(clock, database):
    async with running(clock, *database) as harness:
        runs, stats = await _worker(harness), await _worker(harness, "stats-worker")
        mine, theirs = _new_key(), _new_key()
        await _register(harness, runs, mine)
        await _register(harness, stats, theirs)
        registrations = await harness.container.aget(Registrations)
        assert await registrations.remove("runs-worker")
        assert [jwk["kid"] for jwk in await _published(harness)] == [theirs.kid]
        # Added again under the id, the client registers the key anew, as its own.
        again = await _worker(harness)
        assert await _published(harness) == [{**theirs.jwk, "client_id": "stats-worker"}]
        assert (await _register(harness, again, mine)).status_code == 200


class _ConflictingCommits:
    """A database whose next ``conflicts`` commits meet a concurrent change."""

    def __init__(self, database, conflicts: int) -> None:
        self._database = database
        self.conflicts = conflicts

    def __getattr__(self, name):
        return getattr(self._database, name)

    async def begin(self):
        return _ConflictingTransaction(await self._database.begin(), self)


class _ConflictingTransaction:
    def __init__(self, transaction, database: _ConflictingCommits) -> None:
        self._transaction = transaction
        self._database = database

    def __getattr__(self, name):
        return getattr(self._transaction, name)

    async def commit(self, outbox, inbox) -> None:
        if self._database.conflicts > 0:
            self._database.conflicts -= 1
            await self._transaction.rollback()
            raise ConflictError("changed by another unit of work meanwhile")
        await self._transaction.commit(outbox, inbox)


async def test_a_registration_that_meets_a_concurrent_change_reads_the_keys_again(clock):
    async with running(clock) as harness:
        auth, key = await _worker(harness), _new_key()
        message_keys = await harness.container.aget(MessageKeys)
        message_keys.database = _ConflictingCommits(message_keys.database, conflicts=4)
        assert (await _register(harness, auth, key)).status_code == 200
        assert [jwk["kid"] for jwk in await _published(harness)] == [key.kid]


async def test_a_registration_gives_up_after_five_conflicts_and_says_so(clock, caplog):
    async with running(clock) as harness:
        message_keys = await harness.container.aget(MessageKeys)
        message_keys.database = _ConflictingCommits(message_keys.database, conflicts=5)
        key = _new_key()
        jwk, proof = json.dumps(key.jwk), key.proof("runs-worker", NOW)
        with caplog.at_level(logging.ERROR, logger="atoll.auth"), pytest.raises(ConflictError):
            await message_keys.register("runs-worker", jwk, proof)
    (error,) = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert "could not register message key" in error.getMessage()


# -- metadata and options -------------------------------------------------------------------


async def test_the_metadata_names_where_keys_are_registered_and_published(clock):
    async with running(clock, "--tokens-issuer", "https://id.example.org/") as harness:
        document = (await harness.client.get("/.well-known/oauth-authorization-server")).json()
        assert document["atoll_message_keys_endpoint"] == (
            "https://id.example.org/oauth/message-keys"
        )
        assert document["atoll_message_jwks_uri"] == (
            "https://id.example.org/.well-known/message-keys.json"
        )


def test_message_keys_are_published_for_7_days_and_32_per_client_by_default():
    options = TokenOptions()
    assert options.message_key_lifetime == WEEK
    assert options.message_keys_per_client == 32


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"message_key_lifetime": 0}, "message_key_lifetime must be at least 1 second"),
        ({"message_keys_per_client": 0}, "message_keys_per_client must be at least 1"),
    ],
)
def test_message_key_options_below_1_are_refused_with_the_fix(given, message):
    with pytest.raises(ValueError, match=message):
        TokenOptions(**given)
