"""What authenticating a request costs: the same route with and without a verified JWT.

One service, served by its own ASGI app in this process (no server, no socket: the app's
work alone), answers ``GET /runs/7`` two ways: a handler that asks for nothing, and the same
handler asking for ``atoll.Identity`` with a bearer token in the request, which the service
verifies (``--auth-jwt-...``: the issuer's keys given as JWKs). Measured per algorithm:

- a token the service has seen before (a client sends its token with every call): the
  signature was checked once, and each request checks the token's times and claims again;
- a token never seen (each request a new one, minted before the round): the signature is
  checked too, the figure a first call pays.

The difference to the plain route is what authentication adds to a request; the target is
at most 40 us with RS256 and EdDSA for a token seen before. Then oversized tokens (an 8 KB
header, a 200 KB payload, 1 MB in all), which must be refused in under 50 ms each.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_auth.py [--rounds N]
[--requests N]``. Prints microseconds per request (the best of the rounds, the contenders
interleaved in each) and what authentication adds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

import atoll
import atoll.testing

ISSUER = "https://id.example.org/"
AUDIENCE = "https://runs.example.org"
TARGET_US = 40.0
REFUSED_MS = 50.0


def keys() -> dict[str, tuple[Any, dict[str, Any]]]:
    """A private key and its public JWK per algorithm."""
    made: dict[str, tuple[Any, dict[str, Any]]] = {}
    for alg, private, to_jwk in (
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048), RSAAlgorithm),
        ("EdDSA", ed25519.Ed25519PrivateKey.generate(), OKPAlgorithm),
        ("ES256", ec.generate_private_key(ec.SECP256R1()), ECAlgorithm),
    ):
        jwk = to_jwk.to_jwk(private.public_key(), as_dict=True)
        made[alg] = (private, {**jwk, "kid": alg.lower(), "alg": alg, "use": "sig"})
    return made


def mint(alg: str, private: Any, serial: int) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": f"user-{serial}", "iat": now,
              "exp": now + 3600, "jti": f"t-{serial}"}  # fmt: skip
    headers = {"kid": alg.lower(), "typ": "at+jwt"}
    return jwt.encode(claims, private, algorithm=alg, headers=headers)


def service() -> atoll.Service:
    runs = atoll.Service("runs")

    @runs.get("/runs/{run_id}")
    async def plain(run_id: int) -> dict[str, int]:
        return {"run_id": run_id}

    @runs.get("/mine/{run_id}")
    async def mine(run_id: int, identity: atoll.Identity) -> dict[str, int]:
        return {"run_id": run_id} if identity.authenticated else {}

    return runs


def scope(path: str, token: str | None) -> dict[str, Any]:
    headers = [(b"host", b"bench")]
    if token is not None:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    return {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
            "query_string": b"", "headers": headers, "http_version": "1.1",
            "scheme": "http", "client": ("127.0.0.1", 5000), "server": ("bench", 80),
            "root_path": ""}  # fmt: skip


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


class Answer:
    """A send channel that keeps the status, to check every answer is a 200."""

    status = 0

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]


async def measure(app: Any, scopes: list[dict[str, Any]], status: int = 200) -> float:
    """Microseconds per request over ``scopes``, each answered once (with ``status``)."""
    answer = Answer()
    gc.collect()
    started = time.perf_counter()
    for one in scopes:
        await app(one, receive, answer)
    elapsed = time.perf_counter() - started
    if answer.status != status:
        raise SystemExit(f"the app answered {answer.status}: the benchmark is broken")
    return elapsed / len(scopes) * 1e6


def oversized() -> dict[str, str]:
    """Tokens refused for their size, as an attacker sends them: well formed, but huge."""
    header = "eyJhbGciOiJSUzI1NiJ9"  # {"alg":"RS256"}
    return {
        "a header of 8 KB": f"{header}{'A' * 8192}.e30.c2ln",
        "a payload of 200 KB": f"{header}.{'A' * 200 * 1024}.c2ln",
        "a token of 1 MB": f"{header}.{'A' * 1024 * 1024}.c2ln",
    }


async def run(rounds: int, requests: int) -> None:
    made = keys()
    argv = [
        "--auth-jwt-issuer", ISSUER, "--auth-jwt-audience", AUDIENCE,
        "--auth-jwt-algorithms", ",".join(made),
        "--auth-jwt-keys", json.dumps([json.dumps(jwk) for _, jwk in made.values()]),
        "--server-max-header-bytes", "2000000",  # the verifier's refusal, not the HTTP layer's
    ]  # fmt: skip
    async with atoll.testing.run(service(), argv=argv) as harness:
        app = harness.http.entry
        seen = {alg: mint(alg, private, 0) for alg, (private, _) in made.items()}
        contenders: dict[str, Any] = {"plain route": lambda: [scope("/runs/7", None)] * requests}
        for alg in made:
            token = seen[alg]
            contenders[f"{alg}, token seen before"] = lambda token=token: (
                [scope("/mine/7", token)] * requests
            )
            private = made[alg][0]
            contenders[f"{alg}, token never seen"] = lambda alg=alg, private=private: [
                scope("/mine/7", mint(alg, private, serial)) for serial in range(1, requests + 1)
            ]
        best: dict[str, float] = dict.fromkeys(contenders, float("inf"))
        for _ in range(rounds):  # interleaved, so that a noisy moment hurts every contender
            for name, scopes_of in contenders.items():
                scopes = scopes_of()  # made before the clock starts: minting is the issuer's
                best[name] = min(best[name], await measure(app, scopes))
        refused: dict[str, float] = {}
        for name, token in oversized().items():  # each refused with 401, before it is read
            scopes = [scope("/mine/7", token)] * 20
            refused[name] = min([await measure(app, scopes, 401) for _ in range(rounds)])
    plain = best["plain route"]
    print(f"Per request through the service's ASGI app, best of {rounds} rounds of "
          f"{requests} requests (us):\n")  # fmt: skip
    print("| request | us | added by authentication | target |")
    print("| --- | ---: | ---: | --- |")
    for name, micros in best.items():
        added = micros - plain
        if name == "plain route":
            print(f"| {name} | {micros:.1f} | - | |")
            continue
        judged = ""
        if "seen before" in name and name.split(",")[0] in {"RS256", "EdDSA"}:
            judged = f"<= {TARGET_US:.0f} us: {'PASS' if added <= TARGET_US else 'FAIL'}"
        print(f"| {name} | {micros:.1f} | {added:.1f} | {judged} |")
    print("\nOversized tokens, refused (401) before they are read (ms per request):\n")
    print("| token | ms | target |")
    print("| --- | ---: | --- |")
    for name, micros in refused.items():
        verdict = "PASS" if micros / 1000 < REFUSED_MS else "FAIL"
        print(f"| {name} | {micros / 1000:.3f} | < {REFUSED_MS:.0f} ms: {verdict} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(run(args.rounds, args.requests))


if __name__ == "__main__":
    main()
