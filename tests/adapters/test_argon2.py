"""Argon2Passwords: hashes that verify, decoys for unknown accounts, rehash when weaker."""

from __future__ import annotations

from argon2 import PasswordHasher

from atoll.adapters.argon2 import Argon2Passwords

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


async def test_a_password_verifies_against_its_hash_and_another_does_not():
    passwords = Argon2Passwords(CHEAP)
    hashed = await passwords.hash("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert await passwords.verify(hashed, "correct horse battery staple")
    assert not await passwords.verify(hashed, "correct horse battery stapler")


async def test_two_hashes_of_one_password_differ_by_their_salt():
    passwords = Argon2Passwords(CHEAP)
    assert await passwords.hash("same") != await passwords.hash("same")


async def test_no_account_is_refused_after_checking_a_decoy():
    passwords = Argon2Passwords(CHEAP)
    assert not await passwords.verify(None, "anything")
    assert passwords._decoy is not None  # the decoy was made and checked
    assert passwords._decoy.startswith("$argon2id$")


async def test_a_malformed_hash_is_refused_and_needs_a_rehash():
    passwords = Argon2Passwords(CHEAP)
    assert not await passwords.verify("not a hash", "anything")
    assert passwords.needs_rehash("not a hash")


async def test_a_hash_made_with_weaker_parameters_needs_a_rehash():
    weaker = await Argon2Passwords(CHEAP).hash("pw")
    stronger = Argon2Passwords(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    assert stronger.needs_rehash(weaker)
    assert await stronger.verify(weaker, "pw")  # it still verifies until replaced
    assert not stronger.needs_rehash(await stronger.hash("pw"))
