"""JWT verification per request: atoll's JwtVerifier against the signature alone and jwt.decode.

One call = ``JwtVerifier.verify(token)`` on a valid access token (typ ``at+jwt``, a ``kid``,
the usual claims, a jti and a scope; the table gives its size) whose key is already known, so
the call never waits: its coroutine is run to its end with one
``send(None)``, which is what the event loop does for a call that does not wait. Beside it, in
the same run:

- **signature alone** (the floor): pyjwt's algorithm object checking the same signature over
  the same bytes with the same key, which every verifier must do;
- **jwt.decode**: pyjwt's own path with the same checks it offers (the key pinned to the
  algorithm, issuer, audience, required claims, leeway): what a verifier built on it costs.

The issue's target: verifying adds at most 40 us to a request (an authenticated request
against the same route without auth). ``overhead`` is verify() less the signature alone:
atoll's share, which is all it can act on; the signature's own cost is the algorithm's.

Run: ``.venv/bin/python benchmarks/bench_jwt.py [--rounds N] [--number N]``. Prints
microseconds per call, the best of several rounds (interleaved, so that a noisy moment hurts
every contender alike), each timing many calls.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
import timeit
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from atoll.adapters.jwt import JwtVerifier
from atoll.security.tokens import JwtOptions

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

ISSUER = "https://id.example.org/"
AUDIENCE = "https://runs.example.org"
ALGORITHMS = ("RS256", "EdDSA", "ES256")


def private_key(alg: str) -> Any:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def run(coroutine: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run a coroutine that never waits to its end, as the event loop would in one step."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        claims: dict[str, Any] = done.value
        return claims
    coroutine.close()
    msg = "verify() waited: the key was not known"
    raise RuntimeError(msg)


def contenders(alg: str) -> tuple[str, dict[str, Callable[[], object]]]:
    """The token for ``alg``, and each way of verifying it, checked to give its claims."""
    key = private_key(alg)
    algorithm = get_default_algorithms()[alg]
    jwk = {**algorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1", "alg": alg}
    jwk.pop("key_ops", None)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": now,
        "exp": now + 3600,
        "jti": "3f2a9c1e-8b7d-4c6e-9f0a-1b2c3d4e5f60",
        "scope": "runs:read runs:write",
    }
    token = jwt.encode(claims, key, algorithm=alg, headers={"kid": "k1", "typ": "at+jwt"})
    options = JwtOptions(
        issuer=ISSUER, audience=[AUDIENCE], algorithms=[alg], keys=[json.dumps(jwk)]
    )
    verifier = JwtVerifier(options)
    asyncio.run(verifier.start())
    signed, _, signature = token.rpartition(".")
    signed_bytes, signature_bytes = signed.encode(), jwt.utils.base64url_decode(signature)
    public = algorithm.prepare_key(key.public_key())
    pinned = jwt.PyJWK(jwk)

    def atoll_verify() -> object:
        return run(verifier.verify(token))

    def signature_alone() -> object:
        return algorithm.verify(signed_bytes, public, signature_bytes)

    def pyjwt_decode() -> object:
        return jwt.decode(
            token,
            key=pinned,
            algorithms=[alg],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=30,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )

    assert atoll_verify() == claims  # noqa: S101 - a benchmark that checks its subject
    assert signature_alone() is True  # noqa: S101
    assert pyjwt_decode() == claims  # noqa: S101
    calls = {"atoll verify()": atoll_verify, "signature alone": signature_alone}
    return token, {**calls, "jwt.decode": pyjwt_decode}


def measure(call: Callable[[], object], number: int) -> float:
    """Microseconds per call over one round of ``number`` calls."""
    return timeit.timeit(call, number=number) / number * 1e6


def main() -> None:
    """Measure each algorithm's contenders, interleaved round by round, and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=2_000)
    args = parser.parse_args()
    made = {alg: contenders(alg) for alg in ALGORITHMS}
    best = {(alg, name): float("inf") for alg, (_, calls) in made.items() for name in calls}
    gc.collect()
    for _ in range(args.rounds):
        for alg, (_, calls) in made.items():
            for name, call in calls.items():
                best[alg, name] = min(best[alg, name], measure(call, args.number))
    print(
        f"JWT verification of a cached-key access token: best of {args.rounds} rounds "
        f"of {args.number:,} calls, us per call"
    )
    header = ("alg", "bytes", "verify()", "signature", "overhead", "jwt.decode", "decode/verify")
    print(f"{header[0]:<6}{header[1]:>6}" + "".join(f"{h:>14}" for h in header[2:]))
    for alg, (token, _) in made.items():
        ours, floor, peer = (best[alg, name] for name in made[alg][1])
        print(
            f"{alg:<6}{len(token):>6}{ours:>14.1f}{floor:>14.1f}{ours - floor:>14.1f}"
            f"{peer:>14.1f}{peer / ours:>13.2f}x"
        )
    print("target: verifying adds <= 40 us to a request (overhead = verify() - signature)")


if __name__ == "__main__":
    main()
