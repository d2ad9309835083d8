"""Signed envelopes: what a process publishes, signed with its key; what it consumes, checked.

A consumer takes a message's ``sender`` and ``subject`` headers on trust: any client holding
the broker's credentials can write them. With ``--messages-sign``, a process signs each
envelope it publishes (a JWS, RFC 7515, with a detached payload) with an Ed25519 key it makes
when it starts, never written anywhere, whose public half it registers at atoll's token
service with its client credentials (``[clients]``). With ``--messages-require-signed``, a
process checks each message it consumes against the keys the token service publishes, and
sends to the dead-letter queue every message unsigned, altered, or signed by a key it does
not publish; a handler's ``atoll.Identity`` then says who signed (``issuer``, the signing
client's id; ``scheme == "signed-message"``).

What the signature covers (:func:`signing_input`): the envelope's id, type and stream, a
SHA-256 of its payload, and the headers of :data:`SIGNED_HEADERS`, each present or absent:
a header added on the way cannot pass for one the sender wrote. A message sent again under
its id is the same message, which the consumer's inbox skips.

This module holds the names, the options and the publisher; the keys and the cryptography
are the JWT adapter's (:mod:`atoll.adapters.jwt.envelopes`).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import msgspec

from atoll.kernel.options import masked_url, option

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from atoll.messaging.envelope import Envelope
    from atoll.messaging.publishing import Publisher

__all__ = [
    "SIGNATURE",
    "SIGNED_BY",
    "SIGNED_HEADERS",
    "EnvelopeSigner",
    "EnvelopeVerifier",
    "SigningOptions",
    "SigningPublisher",
    "opened",
    "signing_input",
    "without_signer",
    "without_subject",
]

SIGNATURE = "atoll-signature"
"""The header holding an envelope's signature: a JWS compact serialization, payload detached."""

SIGNED_BY = "atoll-signed-by"
"""The header a consumer sets once a signature holds: the signing client's id. One that
comes with a message is removed before anything reads it."""

SIGNED_HEADERS = (
    "sender",
    "subject",
    "subject_kind",
    "correlation_id",
    "causation_id",
    "traceparent",
    "tracestate",
)
"""The headers a signature covers, whether present or not; the others are not signed."""

SIGNING_INPUT_VERSION = "atoll-envelope/1"

_encode = msgspec.json.Encoder().encode


def signing_input(envelope: Envelope) -> bytes:
    """What a signature of ``envelope`` is over: the same bytes for the sender and consumer.

    A JSON array of the version, the id, the type, the stream, the payload's SHA-256
    (base64url), and the value of each header of :data:`SIGNED_HEADERS` (``null`` when
    absent).
    """
    digest = base64.urlsafe_b64encode(hashlib.sha256(envelope.payload).digest()).rstrip(b"=")
    headers = envelope.headers
    return _encode(
        [
            SIGNING_INPUT_VERSION,
            envelope.id,
            envelope.type,
            envelope.stream,
            digest.decode("ascii"),
            [headers.get(name) for name in SIGNED_HEADERS],
        ]
    )


def without_signer(envelope: Envelope) -> Envelope:
    """``envelope`` without a :data:`SIGNED_BY` header, which only a consumer may set."""
    if SIGNED_BY not in envelope.headers:
        return envelope
    headers = {k: v for k, v in envelope.headers.items() if k != SIGNED_BY}
    return dataclasses.replace(envelope, headers=headers)


def without_subject(envelope: Envelope) -> Envelope:
    """``envelope`` without who made the outside call it follows from.

    What a process that signs its messages, but does not check those it consumes, does
    with what it consumes: it would otherwise carry an unchecked subject on, under its own
    signature.
    """
    if "subject" not in envelope.headers and "subject_kind" not in envelope.headers:
        return envelope
    headers = {k: v for k, v in envelope.headers.items() if k not in {"subject", "subject_kind"}}
    return dataclasses.replace(envelope, headers=headers)


async def opened(
    envelope: Envelope, verifier: EnvelopeVerifier | None, *, forget_subject: bool = False
) -> Envelope:
    """``envelope`` as its handlers see it: its signature checked, or its signer unsaid.

    ``verifier``: the process's, when it takes signed messages only; ``forget_subject``: the
    subject dropped too, for a process that signs what it publishes but checks nothing.

    Raises:
        UnverifiedMessageError: its signature was refused.
        UnavailableError: the keys to check it cannot be fetched now.
    """
    if verifier is not None:
        return await verifier.verify(without_signer(envelope))
    unsaid = without_signer(envelope)
    return without_subject(unsaid) if forget_subject else unsaid


class EnvelopeSigner(Protocol):
    """What signs the envelopes a process publishes: a component."""

    async def start(self) -> None:
        """Get ready to sign (register a key)."""
        ...

    async def stop(self) -> None:
        """Forget the key."""
        ...

    def sign(self, envelope: Envelope) -> Envelope:
        """``envelope`` with its :data:`SIGNATURE` header.

        Raises:
            UnavailableError: no key is registered yet (the token service is out of reach).
        """
        ...


class EnvelopeVerifier(Protocol):
    """What checks the signature of each envelope a process consumes: a component."""

    async def start(self) -> None:
        """Get ready to verify (fetch the keys)."""
        ...

    async def stop(self) -> None:
        """Release what it holds."""
        ...

    async def verify(self, envelope: Envelope) -> Envelope:
        """``envelope`` with the :data:`SIGNED_BY` header, once its signature holds.

        Raises:
            UnverifiedMessageError: unsigned, altered, or signed by a key not published.
            UnavailableError: the keys cannot be fetched now; try again later.
        """
        ...


class SigningPublisher:
    """A publisher that signs each envelope before handing it to the next.

    An envelope that cannot be signed yet fails to publish, as when the broker is away: the
    outbox keeps it, and its relay tries again.
    """

    def __init__(self, publisher: Publisher, signer: EnvelopeSigner) -> None:
        self.publisher = publisher
        self.signer = signer

    def publish(self, envelope: Envelope) -> Awaitable[None]:
        """Sign ``envelope``, and hand it over."""
        try:
            signed = self.signer.sign(envelope)
        except Exception as error:  # noqa: BLE001 - raised where the relay awaits
            return _raising(error)
        return self.publisher.publish(signed)

    def __repr__(self) -> str:
        return f"SigningPublisher({self.publisher!r})"


async def _raising(error: Exception) -> None:
    raise error


@dataclass(frozen=True)
class SigningOptions:
    """Whether the messages this process publishes are signed, and those it consumes checked."""

    sign: bool = option(
        default=False,
        help="sign each message published, with a key registered at the token service with "
        "the [clients] credentials",
    )
    require_signed: bool = option(
        default=False,
        help="send to the dead-letter queue each message consumed that a key the token "
        "service publishes did not sign",
    )
    token_service: str = option(
        "", help="the base URL of the atoll token service holding the message keys"
    )
    timeout: float = option(10.0, help="seconds a request to the token service may take")

    def __post_init__(self) -> None:
        if (self.sign or self.require_signed) and not self.token_service:
            flag = "--messages-sign" if self.sign else "--messages-require-signed"
            msg = (
                f"{flag} needs the token service holding the message keys: set "
                "--messages-token-service to its base URL, such as http://127.0.0.1:8003"
            )
            raise ValueError(msg)
        if self.token_service and not self.token_service.startswith(("http://", "https://")):
            msg = (
                f"token_service {masked_url(self.token_service)!r} is no http:// or https:// "
                "URL; give the token service's base URL, such as http://127.0.0.1:8003"
            )
            raise ValueError(msg)
        if not self.timeout > 0:
            msg = f"timeout must be above 0 seconds, such as 10; got {self.timeout}"
            raise ValueError(msg)

    @property
    def keys_endpoint(self) -> str:
        """Where a signer registers its key: the token service's message keys endpoint."""
        return self.token_service.rstrip("/") + "/oauth/message-keys"

    @property
    def jwks_url(self) -> str:
        """Where a consumer reads the keys: the token service's message keys JWKS."""
        return self.token_service.rstrip("/") + "/.well-known/message-keys.json"
