"""Key rotation: a new key is published before it signs; an old one until its tokens expire."""

from __future__ import annotations

import pytest

from atoll.auth.keyring import Keyring
from atoll.errors import ConfigError
from tests.auth.conftest import add_client, basic, running, verifier_for

GRANT = {"grant_type": "client_credentials"}
DELAY = 600
HOLD = 300 + 30  # the lifetime and the leeway


async def _kids(harness) -> list[str]:
    document = (await harness.client.get("/.well-known/jwks.json")).json()
    return [key["kid"] for key in document["keys"]]


async def _token(harness, secret) -> str:
    response = await harness.client.post(
        "/oauth/token", data=GRANT, headers=basic("runs-worker", secret)
    )
    return response.json()["access_token"]


async def _signed_by(harness, secret) -> str:
    import base64  # noqa: PLC0415 - only here
    import json  # noqa: PLC0415 - only here

    part = (await _token(harness, secret)).split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["kid"]


async def test_the_first_start_makes_a_key_that_signs_at_once(clock):
    async with running(clock) as harness:
        keyring = await harness.container.aget(Keyring)
        (key,) = await keyring.keys()
        assert key.activates_at == clock.now
        assert key.retires_at is None
        assert await _kids(harness) == [key.id]


async def test_a_rotation_publishes_first_signs_later_and_withdraws_last(clock):
    async with running(clock) as harness:
        secret = await add_client(harness)
        keyring = await harness.container.aget(Keyring)
        (old,) = await keyring.keys()
        new, gone = await keyring.rotate()
        assert gone == []
        # published at once, the old key still signing
        assert await _kids(harness) == [old.id, new.id]
        assert await _signed_by(harness, secret) == old.id
        clock.advance(DELAY - 1)
        assert await _signed_by(harness, secret) == old.id
        last_old_token = await _token(harness, secret)
        # the new key signs once the delay has passed; the old one stays published
        clock.advance(1)
        assert await _signed_by(harness, secret) == new.id
        assert await _kids(harness) == [old.id, new.id]
        verifier = await verifier_for(harness, clock)
        assert (await verifier.verify(last_old_token))["sub"] == "runs-worker"
        # until its last token has expired, leeway included
        clock.advance(HOLD - 1)
        assert await _kids(harness) == [old.id, new.id]
        clock.advance(1)
        assert await _kids(harness) == [new.id]
        # the next rotation removes it from the database
        newer, gone = await keyring.rotate()
        assert [key.id for key in gone] == [old.id]
        assert {key.id for key in await keyring.keys()} == {new.id, newer.id}


async def test_two_rotations_before_the_first_activates_sign_with_the_last(clock):
    async with running(clock) as harness:
        secret = await add_client(harness)
        keyring = await harness.container.aget(Keyring)
        first, _ = await keyring.rotate()
        clock.advance(10)
        second, _ = await keyring.rotate()
        clock.advance(DELAY)
        assert await _signed_by(harness, secret) == second.id
        retired = {key.id: key.retires_at for key in await keyring.keys()}
        assert retired[first.id] == second.activates_at


async def test_keys_are_encrypted_with_the_passphrase(clock):
    async with running(clock, "--tokens-key-passphrase", "correct horse") as harness:
        keyring = await harness.container.aget(Keyring)
        (key,) = await keyring.keys()
        assert "ENCRYPTED PRIVATE KEY" in key.private_key
        secret = await add_client(harness)
        assert await _signed_by(harness, secret) == key.id


async def test_a_key_encrypted_does_not_load_without_its_passphrase(clock):
    from atoll.adapters.jwt.signer import Signer, new_private_key  # noqa: PLC0415 - only here

    pem = new_private_key("EdDSA", b"correct horse")
    with pytest.raises(ConfigError, match="encrypted") as refused:
        Signer("k1", "EdDSA", pem, None)
    assert pem.decode() not in str(refused.value)
    with pytest.raises(ConfigError, match="passphrase is wrong"):
        Signer("k1", "EdDSA", pem, b"battery staple")


async def test_a_start_with_only_a_key_not_signing_yet_makes_one_until_it_does(clock):
    from atoll.auth.keyring import new_key, signing_key  # noqa: PLC0415 - only here
    from atoll.auth.tables import AuthUnitOfWork  # noqa: PLC0415 - only here

    async with running(clock) as harness:
        keyring = await harness.container.aget(Keyring)
        pending = new_key("EdDSA", clock.now, clock.now + DELAY, None)
        async with AuthUnitOfWork(keyring.database) as uow:
            for key in await uow.keys.find():
                await uow.keys.remove(key)
            await uow.keys.add(pending)
            await uow.commit()
        await keyring.start()  # as the first start after `atoll auth keys rotate`
        keys = await keyring.keys()
        now_signing = signing_key(keys, clock.now)
        assert now_signing is not None
        assert now_signing.id != pending.id
        assert now_signing.retires_at == pending.activates_at
        assert signing_key(keys, clock.now + DELAY).id == pending.id
