"""Signed envelopes: what signing and checking a message costs, alone and in a pipeline.

Two measurements, in one run:

1. **Per message**, in microseconds, the best of several interleaved rounds:

   - ``KeySigner.sign`` (atoll: the signing input, an Ed25519 signature, a new envelope)
     against the Ed25519 signature alone over the same bytes (the floor), and pyjwt's
     ``jwt.api_jws.encode(..., is_payload_detached=True)`` over the same input (what a
     signer built on pyjwt costs);
   - ``KeyVerifier.verify`` of a message whose key is known, against the Ed25519 check
     alone, and pyjwt's ``jwt.api_jws.decode(..., detached_payload=...)``.

2. **In a pipeline**: events of 1 KiB published to the in-memory broker and handled by a
   consumer (a handler that does nothing), per second, unsigned against signed and
   checked. The ratio is what signing takes from a service whose handlers do nothing at
   all; real handlers make it smaller.

The keys are registered at atoll's token service running in this process (on
``memory://``), as a service registers them.

Run: ``.venv/bin/python benchmarks/bench_signing.py [--rounds N] [--number N] [--events N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import time
import timeit
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt

import atoll.testing
from atoll.adapters.jwt.envelopes import KeySigner, KeyVerifier
from atoll.auth import token_service
from atoll.auth.clients import Registrations
from atoll.kernel.options import Secret
from atoll.kernel.registry import Registry
from atoll.messaging.broker import RetryPolicy, Subscription
from atoll.messaging.bus import MessageBus
from atoll.messaging.consumer import BrokerConsumer
from atoll.messaging.envelope import message_name, seal
from atoll.messaging.handlers import Handler, HandlerKind
from atoll.messaging.memory_broker import MemoryBroker
from atoll.messaging.signing import SIGNATURE, SigningPublisher, signing_input

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

BASE = "http://testserver"


@dataclass(frozen=True)
class Measured:
    """The event carried: about 1 KiB of JSON."""

    run: int
    note: str


def run_now(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never waits to its end, as the event loop would in one step."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    msg = "the coroutine waited: the key was not known"
    raise RuntimeError(msg)


def per_message(
    signer: KeySigner, verifier: KeyVerifier, rounds: int, number: int
) -> dict[str, float]:
    """Microseconds per call of each contender, the best round of each."""
    envelope = seal(
        Measured(1, "x" * 1000),
        stream="Run:1",
        headers={"sender": "runs", "subject": "ada", "subject_kind": "user"},
    )
    signed = signer.sign(envelope)
    key, header = signer._signing  # noqa: SLF001 - the floor signs with the very key
    payload = signing_input(envelope)
    signed_bytes = header + b"." + base64.urlsafe_b64encode(payload).rstrip(b"=")
    public = key.public_key()
    raw_signature = key.sign(signed_bytes)
    pyjwt_headers = {"kid": signer.kid, "typ": "atoll-envelope"}
    pyjwt_signed = jwt.api_jws.encode(
        payload, key, algorithm="EdDSA", headers=pyjwt_headers, is_payload_detached=True
    )
    if run_now(verifier.verify(signed)).headers[SIGNATURE] != signed.headers[SIGNATURE]:
        msg = "the verifier did not give back the envelope it checked"
        raise RuntimeError(msg)

    contenders: dict[str, Callable[[], object]] = {
        "sign: atoll KeySigner.sign": lambda: signer.sign(envelope),
        "sign: Ed25519 alone": lambda: key.sign(signed_bytes),
        "sign: pyjwt api_jws.encode": lambda: jwt.api_jws.encode(
            signing_input(envelope),
            key,
            algorithm="EdDSA",
            headers=pyjwt_headers,
            is_payload_detached=True,
        ),
        "verify: atoll KeyVerifier.verify": lambda: run_now(verifier.verify(signed)),
        "verify: Ed25519 alone": lambda: public.verify(raw_signature, signed_bytes),
        "verify: pyjwt api_jws.decode": lambda: jwt.api_jws.decode(
            pyjwt_signed,
            public,
            algorithms=["EdDSA"],
            detached_payload=signing_input(signed),
        ),
    }
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for name, call in contenders.items():
            gc.collect()
            seconds = timeit.timeit(call, number=number)
            best[name] = min(best[name], seconds / number * 1e6)
    return best


async def pipeline(events: int, signer: KeySigner | None, verifier: KeyVerifier | None) -> float:
    """Events per second from publish to handled, through the in-memory broker."""
    handled = 0
    done = asyncio.Event()

    async def on_measured(event: Measured) -> None:  # noqa: ARG001 - does nothing with it
        nonlocal handled
        handled += 1
        if handled == events:
            done.set()

    bus = MessageBus()
    bus.add(Handler(on_measured, HandlerKind.EVENT, "on_measured", "stats", Measured))
    registry = Registry()
    bus.register(registry)
    bus.bind(registry.build())
    broker = MemoryBroker()
    await broker.start()
    subscription = Subscription("stats", (message_name(Measured),), prefetch=256)
    consumer = BrokerConsumer(
        broker, bus, subscription, RetryPolicy(), concurrency=16, verifier=verifier
    )
    await consumer.start()
    publisher = broker if signer is None else SigningPublisher(broker, signer)
    envelopes = [
        seal(Measured(n, "x" * 1000), headers={"sender": "runs", "subject": "ada"})
        for n in range(events)
    ]
    started = time.perf_counter()
    await asyncio.gather(*(publisher.publish(envelope) for envelope in envelopes))
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.perf_counter() - started
    await consumer.stop()
    await broker.stop()
    return events / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()

    async with atoll.testing.run(token_service(), argv=["--db-url", "memory://"]) as auth:
        registrations = await auth.container.aget(Registrations)
        _, secret = await registrations.add("runs", ("atoll:sign-messages",), ("stats",))
        signer = KeySigner(f"{BASE}/oauth/message-keys", "runs", Secret(secret), http=auth.client)
        verifier = KeyVerifier(f"{BASE}/.well-known/message-keys.json", http=auth.client)
        await signer.start()
        await verifier.start()
        await verifier.verify(signer.sign(seal(Measured(0, ""))))  # the key, known

        best = per_message(signer, verifier, args.rounds, args.number)
        print(f"per message (1 KiB payload), best of {args.rounds} rounds of {args.number}:")
        width = max(map(len, best))
        for name, micros in best.items():
            print(f"  {name:<{width}}  {micros:7.1f} us")
        signing = best["sign: atoll KeySigner.sign"] - best["sign: Ed25519 alone"]
        checking = best["verify: atoll KeyVerifier.verify"] - best["verify: Ed25519 alone"]
        print(
            f"  atoll over the signature alone: sign +{signing:.1f} us, verify +{checking:.1f} us"
        )

        plain: list[float] = []
        signed: list[float] = []
        for _ in range(3):  # interleaved, so that a noisy moment hurts both alike
            plain.append(await pipeline(args.events, None, None))
            signed.append(await pipeline(args.events, signer, verifier))
        print(f"pipeline, {args.events} events of 1 KiB, memory broker, best of 3:")
        print(f"  unsigned               {max(plain):9.0f} events/s")
        print(f"  signed and checked     {max(signed):9.0f} events/s")
        print(f"  ratio signed/unsigned  {max(signed) / max(plain):9.2f}")
        await signer.stop()
        await verifier.stop()


if __name__ == "__main__":
    asyncio.run(main())
