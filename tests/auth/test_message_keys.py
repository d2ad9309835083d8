"""Message keys: registered at POST /oauth/message-keys, published in their own JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import logging

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from atoll.auth import TokenOptions
from atoll.auth.clients import Registrations
from atoll.auth.message_keys import MessageKeys
from atoll.auth.tables import AuthUnitOfWork
from atoll.errors import ConflictError
from tests.auth.conftest import add_client, basic, running

ENDPOINT = "/oauth/message-keys"
JWKS = "/.well-known/message-keys.json"
WEEK = 604800


def _key_pair() -> tuple[Ed25519PrivateKey, dict]:
    """A new Ed25519 key pair: its private key, and the public JWK a signer registers.

    The ``kid`` is the RFC 7638 thumbprint, computed here as the RFC spells it out.
    """
    private = Ed25519PrivateKey.generate()
    jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    required = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":")
    )
    digest = hashlib.sha256(required.encode()).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return private, {**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"}


def _public_key() -> dict:
    return _key_pair()[1]


async def _register(harness, auth, jwk, **form):
    data = {"jwk": jwk if isinstance(jwk, str) else json.dumps(jwk), **form}
    return await harness.client.post(ENDPOINT, data=data, headers=auth)


async def _published(harness) -> list[dict]:
    return (await harness.client.get(JWKS)).json()["keys"]


async def _worker(harness, client_id="runs-worker") -> dict[str, str]:
    """Register a client; its Basic credentials."""
    return basic(client_id, await add_client(harness, client_id))


@pytest.fixture(params=["memory", "sqlite"])
def database(request, tmp_path) -> list[str]:
    """The flags of the token service's database: memory://, or a SQLite file."""
    if request.param == "memory":
        return []
    return ["--db-url", f"sqlite+aiosqlite:///{tmp_path}/auth.db"]


# -- registering ----------------------------------------------------------------------------


async def test_a_client_registers_a_public_key_and_gets_its_kid_and_lifetime(clock, database):
    async with running(clock, *database) as harness:
        jwk = _public_key()
        response = await _register(harness, await _worker(harness), jwk)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.json() == {"kid": jwk["kid"], "expires_in": WEEK}


async def test_the_message_jwks_publishes_the_key_with_its_client(clock, database):
    async with running(clock, *database) as harness:
        jwk = _public_key()
        await _register(harness, await _worker(harness), jwk)
        response = await harness.client.get(JWKS)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=300"
        assert response.json() == {"keys": [{**jwk, "client_id": "runs-worker"}]}


async def test_a_key_is_published_with_exactly_the_members_of_a_message_key(clock):
    async with running(clock) as harness:
        jwk = _public_key()
        sent = {k: v for k, v in jwk.items() if k not in ("alg", "use")}
        sent["key_ops"] = ["verify"]
        assert (await _register(harness, await _worker(harness), sent)).status_code == 200
        (published,) = await _published(harness)
        assert list(published) == ["kty", "crv", "x", "kid", "alg", "use", "client_id"]
        assert published == {**jwk, "client_id": "runs-worker"}


async def test_the_key_published_verifies_what_its_private_key_signed(clock):
    async with running(clock) as harness:
        private, jwk = _key_pair()
        await _register(harness, await _worker(harness), jwk)
        (published,) = await _published(harness)
        public = OKPAlgorithm.from_jwk(published)
        message = b'{"type":"RunRecorded","run_id":7}'
        signature = private.sign(message)
        assert OKPAlgorithm().verify(message, public, signature)
        assert not OKPAlgorithm().verify(message + b" ", public, signature)


async def test_the_client_authenticates_with_client_id_and_secret_in_the_form_too(clock):
    async with running(clock) as harness:
        secret = await add_client(harness)
        jwk = _public_key()
        response = await _register(harness, {}, jwk, client_id="runs-worker", client_secret=secret)
        assert response.status_code == 200
        assert [key["client_id"] for key in await _published(harness)] == ["runs-worker"]


@pytest.mark.parametrize(
    "credentials", [None, ("runs-worker", "not-its-secret"), ("nobody", "x")], ids=repr
)
async def test_a_client_not_authenticated_is_invalid_client(clock, credentials):
    async with running(clock) as harness:
        await _worker(harness)
        headers = basic(*credentials) if credentials else {}
        response = await _register(harness, headers, _public_key())
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"] == 'Basic realm="auth"'
        assert response.headers["cache-control"] == "no-store"
        assert await _published(harness) == []


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
        jwk = _public_key()
        response = await _register(harness, await _worker(harness), change(jwk))
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert description in response.json()["error_description"]
        assert response.headers["cache-control"] == "no-store"
        assert await _published(harness) == []


async def test_a_wrong_kid_is_told_the_thumbprint_to_send(clock):
    async with running(clock) as harness:
        jwk = _public_key()
        response = await _register(harness, await _worker(harness), {**jwk, "kid": "k1"})
        assert f'"kid": "{jwk["kid"]}"' in response.json()["error_description"]


async def test_a_private_key_is_refused_and_neither_answered_nor_logged(clock, caplog):
    caplog.set_level(logging.DEBUG)
    private, jwk = _key_pair()
    d = OKPAlgorithm.to_jwk(private, as_dict=True)["d"]
    async with running(clock) as harness:
        response = await _register(harness, await _worker(harness), {**jwk, "d": d})
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
        auth, jwk = await _worker(harness), _public_key()
        await _register(harness, auth, jwk)
        clock.advance(60)
        again = await _register(harness, auth, jwk)
        assert again.status_code == 200
        assert again.json() == {"kid": jwk["kid"], "expires_in": 100}
        clock.advance(99)  # 159: past the first registration's end
        assert [key["kid"] for key in await _published(harness)] == [jwk["kid"]]
        clock.advance(1)
        assert await _published(harness) == []


async def test_a_key_another_client_holds_is_refused(clock, database):
    async with running(clock, *database) as harness:
        jwk = _public_key()
        await _register(harness, await _worker(harness), jwk)
        response = await _register(harness, await _worker(harness, "stats-worker"), jwk)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert "registered by another client" in response.json()["error_description"]
        assert [key["client_id"] for key in await _published(harness)] == ["runs-worker"]


async def test_a_key_leaves_the_jwks_when_its_lifetime_ends(clock):
    async with running(clock, "--tokens-message-key-lifetime", "100") as harness:
        jwk = _public_key()
        await _register(harness, await _worker(harness), jwk)
        clock.advance(99)
        assert [key["kid"] for key in await _published(harness)] == [jwk["kid"]]
        clock.advance(1)
        assert await _published(harness) == []


async def test_expired_keys_are_deleted_when_a_key_is_registered(clock, database):
    async with running(clock, "--tokens-message-key-lifetime", "100", *database) as harness:
        old = _public_key()
        await _register(harness, await _worker(harness), old)
        clock.advance(100)
        new = _public_key()
        await _register(harness, await _worker(harness, "stats-worker"), new)
        message_keys = await harness.container.aget(MessageKeys)
        async with AuthUnitOfWork(message_keys.database) as uow:
            kept = [key.kid for key in await uow.message_keys.find()]
        assert kept == [new["kid"]]


async def test_an_expired_key_may_be_registered_again_by_any_client(clock, database):
    async with running(clock, "--tokens-message-key-lifetime", "100", *database) as harness:
        jwk = _public_key()
        await _register(harness, await _worker(harness), jwk)
        clock.advance(100)
        response = await _register(harness, await _worker(harness, "stats-worker"), jwk)
        assert response.status_code == 200
        assert [key["client_id"] for key in await _published(harness)] == ["stats-worker"]


async def test_keys_are_published_in_the_order_they_were_registered(clock):
    async with running(clock) as harness:
        runs, stats = await _worker(harness), await _worker(harness, "stats-worker")
        keys = [_public_key() for _ in range(3)]
        for jwk, auth in zip(keys, (runs, stats, runs), strict=True):
            await _register(harness, auth, jwk)
            clock.advance(1)
        await _register(harness, runs, keys[0])  # a renewal keeps its place
        published = await _published(harness)
        assert [key["kid"] for key in published] == [jwk["kid"] for jwk in keys]
        owners = [key["client_id"] for key in published]
        assert owners == ["runs-worker", "stats-worker", "runs-worker"]


async def test_one_key_more_than_a_client_may_have_removes_its_oldest(clock, database):
    async with running(clock, "--tokens-message-keys-per-client", "2", *database) as harness:
        runs, stats = await _worker(harness), await _worker(harness, "stats-worker")
        first, second, third, others = (_public_key() for _ in range(4))
        await _register(harness, stats, others)
        for jwk in (first, second, third):
            clock.advance(1)
            assert (await _register(harness, runs, jwk)).status_code == 200
        published = [key["kid"] for key in await _published(harness)]
        assert published == [others["kid"], second["kid"], third["kid"]]


async def test_the_key_registered_least_recently_is_the_oldest(clock):
    async with running(clock, "--tokens-message-keys-per-client", "2") as harness:
        auth = await _worker(harness)
        first, second, third = (_public_key() for _ in range(3))
        for jwk in (first, second, first, third):  # first renewed after second
            clock.advance(1)
            await _register(harness, auth, jwk)
        assert [key["kid"] for key in await _published(harness)] == [first["kid"], third["kid"]]


async def test_a_client_with_one_key_allowed_replaces_it(clock):
    async with running(clock, "--tokens-message-keys-per-client", "1") as harness:
        auth = await _worker(harness)
        first, second = _public_key(), _public_key()
        await _register(harness, auth, first)
        await _register(harness, auth, first)  # a renewal is no key more
        assert [key["kid"] for key in await _published(harness)] == [first["kid"]]
        await _register(harness, auth, second)
        assert [key["kid"] for key in await _published(harness)] == [second["kid"]]


async def test_removing_a_client_removes_its_keys_and_no_others(clock, database):
    async with running(clock, *database) as harness:
        runs, stats = await _worker(harness), await _worker(harness, "stats-worker")
        mine, theirs = _public_key(), _public_key()
        await _register(harness, runs, mine)
        await _register(harness, stats, theirs)
        registrations = await harness.container.aget(Registrations)
        assert await registrations.remove("runs-worker")
        assert [key["kid"] for key in await _published(harness)] == [theirs["kid"]]
        # Added again under the id, the client registers the key anew, as its own.
        again = await _worker(harness)
        assert await _published(harness) == [{**theirs, "client_id": "stats-worker"}]
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
        auth, jwk = await _worker(harness), _public_key()
        message_keys = await harness.container.aget(MessageKeys)
        message_keys.database = _ConflictingCommits(message_keys.database, conflicts=4)
        assert (await _register(harness, auth, jwk)).status_code == 200
        assert [key["kid"] for key in await _published(harness)] == [jwk["kid"]]


async def test_a_registration_gives_up_after_five_conflicts_and_says_so(clock, caplog):
    async with running(clock) as harness:
        message_keys = await harness.container.aget(MessageKeys)
        message_keys.database = _ConflictingCommits(message_keys.database, conflicts=5)
        with caplog.at_level(logging.ERROR, logger="atoll.auth"), pytest.raises(ConflictError):
            await message_keys.register("runs-worker", json.dumps(_public_key()))
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


def test_message_keys_are_published_for_7_days_and_8_per_client_by_default():
    options = TokenOptions()
    assert options.message_key_lifetime == WEEK
    assert options.message_keys_per_client == 8


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
