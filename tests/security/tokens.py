"""Keys and tokens for the tests of bearer-token verification, on any transport.

Everything a test needs to show that a service takes a good JWT and refuses each kind of bad
one, whether it calls ``JwtVerifier.verify`` itself or sends the token over REST or JSON-RPC:

Constants and the clock
    ``ISSUER``, ``AUDIENCE``, ``NOW`` (the time the tokens are minted at, 08:00:00 UTC),
    ``SECRET`` (an HMAC key of 48 bytes); :class:`Clock`, a clock the test sets and advances
    (``JwtVerifier(..., clock=Clock())``), so that no test sleeps.
Keys, made once per session
    :func:`rsa_pair` (RSA 2048, RS256), :func:`ed25519_pair` (EdDSA), :func:`ec_pair` (P-256,
    ES256), each a :class:`KeyPair` with its private key, public key, PEM, OpenSSH form and
    public JWK (with ``kid``, ``alg`` and ``"use": "sig"``); ``n=1, 2...`` gives other pairs of
    the same kind (rotation, an attacker's key). :func:`pair` picks one by algorithm.
Options
    :func:`options`: a ``JwtOptions`` that trusts the three pairs (RSA and Ed25519 as JWKs
    with their kids, EC as a PEM without one), with changes; :func:`jwks` makes a JWKS
    document of pairs.
Minting
    :func:`claims` (valid claims at ``NOW``; a change to ``None`` removes a claim),
    :func:`mint` (a signed token: header ``alg``, ``typ: at+jwt`` and the pair's ``kid``,
    changed or removed by ``headers``), :func:`hmac_token`, :func:`compact` (any header,
    payload and signature bytes, unsigned), :func:`segment`.
Bad tokens, one function per attack
    :func:`tampered_payload`, :func:`tampered_signature`, :func:`none_alg` (any casing),
    :func:`hs_with_public_pem`, :func:`hs_with_public_ssh`, :func:`hs_with_public_jwk`
    (HMAC keyed with the public key: the RS/HS confusion), :func:`embedded_jwk` (signed by
    an attacker whose key rides in the header), :func:`with_header` (any header, such as
    ``jku``, ``x5u``, ``crit``, a strange ``kid``), :func:`oversized_header`,
    :func:`oversized_payload`, :func:`garbage`, :func:`malformed`.
The catalogue
    :func:`refusals`: every refusal :func:`options` must give, as :class:`Refusal`
    ``(name, token, reason)``: the reason is ``InvalidTokenError``'s exact message, which a
    transport's 401 carries (``EXPIRED``, ``SIGNATURE``, ``UNKNOWN_KEY``... name the common
    ones). :func:`acceptances`: tokens it must accept, by name. Both take the time to mint at
    (``time.time()`` for a verifier on the wall clock).

A JWKS served over real HTTP, to change during a test, is in :mod:`tests.security.jwks_server`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, get_default_algorithms

from atoll.security.tokens import JwtOptions

ISSUER = "https://id.example.org/"
AUDIENCE = "https://runs.example.org"
NOW = 1_800_000_000.0
SECRET = b"0123456789abcdef0123456789abcdef0123456789abcdef"

_SIGNERS = get_default_algorithms()
_TO_JWK: dict[str, Any] = {
    "RS": RSAAlgorithm,
    "PS": RSAAlgorithm,
    "Ed": OKPAlgorithm,
    "ES": ECAlgorithm,
}


class Clock:
    """A clock a test sets: ``clock()`` is the time, ``clock.advance(s)`` moves it on."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class KeyPair:
    """A signing key, its public forms, and the algorithm and kid its tokens carry."""

    alg: str
    kid: str
    private: Any
    public: Any

    @property
    def pem(self) -> str:
        """The public key as PEM (SubjectPublicKeyInfo)."""
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    @property
    def ssh(self) -> str:
        """The public key in OpenSSH form (``ssh-rsa AAAA...``)."""
        return self.public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()

    @property
    def jwk(self) -> dict[str, Any]:
        """The public key as a JWK, with its kid, its alg and ``"use": "sig"``."""
        jwk = _TO_JWK[self.alg[:2]].to_jwk(self.public, as_dict=True)
        jwk.pop("key_ops", None)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


@functools.cache
def rsa_pair(n: int = 0) -> KeyPair:
    """An RSA 2048 key pair for RS256, kid ``rsa-<n>``."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return KeyPair("RS256", f"rsa-{n}", private, private.public_key())


@functools.cache
def ed25519_pair(n: int = 0) -> KeyPair:
    """An Ed25519 key pair for EdDSA, kid ``ed-<n>``."""
    private = ed25519.Ed25519PrivateKey.generate()
    return KeyPair("EdDSA", f"ed-{n}", private, private.public_key())


@functools.cache
def ec_pair(n: int = 0) -> KeyPair:
    """An EC P-256 key pair for ES256, kid ``ec-<n>``."""
    private = ec.generate_private_key(ec.SECP256R1())
    return KeyPair("ES256", f"ec-{n}", private, private.public_key())


def pair(alg: str, n: int = 0) -> KeyPair:
    """The key pair for ``alg`` (RS256, EdDSA or ES256)."""
    return {"RS256": rsa_pair, "EdDSA": ed25519_pair, "ES256": ec_pair}[alg](n)


def jwks(*pairs: KeyPair, **changes: Any) -> dict[str, Any]:
    """A JWKS document holding the public JWKs of ``pairs`` (each changed by ``changes``)."""
    return {"keys": [{**p.jwk, **changes} for p in pairs]}


def options(**changes: Any) -> JwtOptions:
    """Options trusting the three pairs: RSA and Ed25519 as JWKs (with kids), EC as a PEM."""
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": [AUDIENCE],
        "keys": [json.dumps(rsa_pair().jwk), json.dumps(ed25519_pair().jwk), ec_pair().pem],
    }
    return JwtOptions(**{**values, **changes})


def claims(now: float = NOW, **changes: Any) -> dict[str, Any]:
    """Valid claims, issued at ``now`` for five minutes; a change to ``None`` removes a claim."""
    made = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": int(now),
        "exp": int(now) + 300,
        "jti": "token-1",
        "scope": "runs:read runs:write",
    }
    made.update(changes)
    return {name: value for name, value in made.items() if value is not None}


def segment(data: bytes | dict[str, Any] | list[Any] | str) -> str:
    """``data`` (JSON unless bytes) as one base64url segment, without padding."""
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def compact(header: dict[str, Any], payload: Any, signature: bytes = b"") -> str:
    """A compact token of these parts, as given: nothing is signed."""
    return f"{segment(header)}.{segment(payload)}.{segment(signature)}"


def _header(alg: str, kid: str | None, headers: dict[str, Any] | None) -> dict[str, Any]:
    made: dict[str, Any] = {"alg": alg, "typ": "at+jwt", "kid": kid}
    made.update(headers or {})
    return {name: value for name, value in made.items() if value is not None}


def mint(
    claims_: dict[str, Any] | bytes | None = None,
    key: KeyPair | None = None,
    alg: str | None = None,
    headers: dict[str, Any] | None = None,
) -> str:
    """A token signed by ``key`` (RSA by default) with ``alg`` (the key's by default).

    ``headers`` change the header (``{"typ": "JWT"}``), or remove from it (``{"kid": None}``);
    ``claims_`` may be raw bytes, to sign a payload that is not a JSON object.
    """
    key = key or rsa_pair()
    alg = alg or key.alg
    header = _header(alg, key.kid, headers)
    body = claims() if claims_ is None else claims_
    signed = f"{segment(header)}.{segment(body)}"
    signature = _SIGNERS[alg].sign(signed.encode(), key.private)
    return f"{signed}.{segment(signature)}"


def hmac_token(
    claims_: dict[str, Any] | None = None,
    secret: bytes = SECRET,
    alg: str = "HS256",
    headers: dict[str, Any] | None = None,
) -> str:
    """A token MAC'd with ``secret``, whatever bytes it holds (a public key's, for confusion)."""
    header = _header(alg, None, headers)
    signed = f"{segment(header)}.{segment(claims() if claims_ is None else claims_)}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    return f"{signed}.{segment(hmac.new(secret, signed.encode(), digest).digest())}"


def tampered_payload(token: str) -> str:
    """``token`` with a claim changed (``sub`` becomes ``admin``), its signature kept."""
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{segment({**body, 'sub': 'admin'})}.{signature}"


def tampered_signature(token: str) -> str:
    """``token`` with one bit of its signature flipped."""
    signed, _, signature = token.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{signed}.{segment(bytes(raw))}"


def none_alg(
    claims_: dict[str, Any] | None = None, casing: str = "none", signature: bytes = b""
) -> str:
    """An unsigned token whose ``alg`` is ``casing`` (``none``, ``None``, ``NONE``, ``nOnE``)."""
    return compact(_header(casing, rsa_pair().kid, None), claims_ or claims(), signature)


def hs_with_public_pem(claims_: dict[str, Any] | None = None, key: KeyPair | None = None) -> str:
    """HS256 keyed with the public key's PEM: what a verifier mixing HS and RS would accept."""
    key = key or rsa_pair()
    return hmac_token(claims_, key.pem.encode(), headers={"kid": key.kid})


def hs_with_public_ssh(claims_: dict[str, Any] | None = None, key: KeyPair | None = None) -> str:
    """HS256 keyed with the public key's OpenSSH form."""
    key = key or rsa_pair()
    return hmac_token(claims_, key.ssh.encode(), headers={"kid": key.kid})


def hs_with_public_jwk(claims_: dict[str, Any] | None = None, key: KeyPair | None = None) -> str:
    """HS256 keyed with the public key's JWK, as JSON text."""
    key = key or rsa_pair()
    return hmac_token(claims_, json.dumps(key.jwk).encode(), headers={"kid": key.kid})


def embedded_jwk(claims_: dict[str, Any] | None = None, kid: str | None = None) -> str:
    """Signed by an attacker's RSA key, whose public JWK rides in the ``jwk`` header."""
    attacker = rsa_pair(9)
    return mint(claims_, attacker, headers={"jwk": attacker.jwk, "kid": kid})


def with_header(
    headers: dict[str, Any], key: KeyPair | None = None, claims_: dict[str, Any] | None = None
) -> str:
    """A token signed by ``key`` (RSA by default) with these header changes."""
    return mint(claims_, key, headers=headers)


def oversized_header(size: int = 8 * 1024) -> str:
    """A signed token whose header carries ``size`` bytes of padding text."""
    return with_header({"pad": "h" * size})


def oversized_payload(size: int = 200 * 1024) -> str:
    """A signed token whose payload carries ``size`` bytes of padding text."""
    return mint(claims(pad="p" * size))


def garbage(size: int = 1024 * 1024) -> str:
    """``size`` characters that are no token at all."""
    return ("!@# not a token " * (size // 16 + 1))[:size]


def malformed() -> dict[str, str]:
    """Malformed tokens by name: wrong segments, JSON serialization, whitespace, bad base64..."""
    good = mint()
    header, payload, signature = good.split(".")
    return {
        "empty": "",
        "one segment": header,
        "two segments": f"{header}.{payload}",
        "four segments": f"{good}.{signature}",
        "five segments (JWE)": f"{header}.{payload}.{signature}.{signature}.{signature}",
        "JSON serialization": json.dumps(
            {"payload": payload, "protected": header, "signature": signature}
        ),
        "whitespace inside": f"{header}. {payload}.{signature}",
        "line break inside": f"{header}.{payload[:10]}\n{payload[10:]}.{signature}",
        "base64 padding": f"{header}==.{payload}.{signature}",
        "standard base64 alphabet": f"{header}.{payload}.{signature[:-2]}+/",
        "non-canonical last character": f"{header}.{payload}.{_not_canonical(signature)}",
        "header not JSON": f"{segment(b'{alg: RS256')}.{payload}.{signature}",
        "header a JSON array": f"{segment(['RS256'])}.{payload}.{signature}",
        "header without alg": f"{segment({'typ': 'at+jwt'})}.{payload}.{signature}",
        "alg not a string": f"{segment({'alg': ['RS256'], 'typ': 'at+jwt'})}.{payload}.{signature}",
        "kid not a string": with_header({"kid": 7}),
        "payload a JSON array": mint(b"[1, 2]"),
        "payload not JSON": mint(b"{'sub': 'x'}"),
        "non-ASCII": f"{header}.{payload}é.{signature}",
    }


def _not_canonical(part: str) -> str:
    """The same bytes, spelt with non-zero unused bits in the last character."""
    table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {2: 0b1111, 3: 0b11}[len(part) % 4]
    return part[:-1] + table[table.index(part[-1]) | unused]


@dataclass(frozen=True)
class Refusal:
    """A token :func:`options` must refuse, and the message of the refusal."""

    name: str
    token: str
    reason: str


EXPIRED = "the token has expired"
SIGNATURE = "the token's signature does not verify"
ALGORITHM = "the token's algorithm is not accepted"
ALGORITHM_OF_KEY = "the token's algorithm is not the one of its key"
UNKNOWN_KEY = "the token's key is not known"
ISSUER_REFUSED = "the token's issuer is not trusted"
AUDIENCE_REFUSED = "the token's audience is not this service"
AUDIENCE_FORM = "the token's audience is neither a string nor a list of strings"
TYPE = "the token's type is not accepted"
TOO_LARGE = "the token is too large"
MALFORMED_REASON = "the token is malformed"


def refusals(now: float = NOW) -> list[Refusal]:
    """Every refusal :func:`options` gives at the time ``now`` (leeway 30 s), by name."""
    rsa_key, ed_key, ec_key = rsa_pair(), ed25519_pair(), ec_pair()
    made = [
        *(
            Refusal(f"alg {casing!r}", none_alg(claims(now), casing), "the token is not signed")
            for casing in ("none", "None", "NONE", "nOnE")
        ),
        Refusal(
            "alg none with a signature",
            none_alg(claims(now), signature=b"x" * 32),
            "the token is not signed",
        ),
        Refusal("HS256 keyed with the RSA PEM", hs_with_public_pem(claims(now)), ALGORITHM),
        Refusal("HS256 keyed with the RSA SSH key", hs_with_public_ssh(claims(now)), ALGORITHM),
        Refusal("HS256 keyed with the RSA JWK", hs_with_public_jwk(claims(now)), ALGORITHM),
        Refusal("RS384, not allowed", mint(claims(now), alg="RS384"), ALGORITHM),
        Refusal("PS256, not allowed", mint(claims(now), alg="PS256"), ALGORITHM),
        Refusal("alg unknown", with_header({"alg": "XS999"}, claims_=claims(now)), ALGORITHM),
        Refusal(
            "ES256 with the kid of the RSA key",
            mint(claims(now), ec_key, headers={"kid": rsa_key.kid}),
            ALGORITHM_OF_KEY,
        ),
        Refusal(
            "EdDSA key's kid, alg RS256 (RSA-signed)",
            mint(claims(now), rsa_key, headers={"kid": ed_key.kid}),
            ALGORITHM_OF_KEY,
        ),
        Refusal("payload tampered", tampered_payload(mint(claims(now))), SIGNATURE),
        Refusal("signature tampered", tampered_signature(mint(claims(now))), SIGNATURE),
        Refusal(
            "EdDSA signature tampered", tampered_signature(mint(claims(now), ed_key)), SIGNATURE
        ),
        Refusal(
            "ES256 signature tampered", tampered_signature(mint(claims(now), ec_key)), SIGNATURE
        ),
        Refusal("signature empty", mint(claims(now)).rpartition(".")[0] + ".", SIGNATURE),
        Refusal(
            "signed by another RSA key, same kid",
            mint(claims(now), rsa_pair(1), headers={"kid": rsa_key.kid}),
            SIGNATURE,
        ),
        Refusal("exp missing", mint(claims(now, exp=None)), "the token lacks the claim exp"),
        Refusal("iat missing", mint(claims(now, iat=None)), "the token lacks the claim iat"),
        Refusal("sub missing", mint(claims(now, sub=None)), "the token lacks the claim sub"),
        Refusal(
            "exp null", mint(claims(now, exp=None) | {"exp": None}), "the token lacks the claim exp"
        ),
        Refusal("expired beyond the leeway", mint(claims(now, exp=int(now) - 31)), EXPIRED),
        Refusal(
            "exp a string",
            mint(claims(now, exp=str(int(now) + 300))),
            "the token's claim exp is not a number",
        ),
        Refusal("exp true", mint(claims(now, exp=True)), "the token's claim exp is not a number"),
        Refusal(
            "iat a string",
            mint(claims(now, iat=str(int(now)))),
            "the token's claim iat is not a number",
        ),
        Refusal(
            "nbf a string",
            mint(claims(now, nbf=str(int(now)))),
            "the token's claim nbf is not a number",
        ),
        Refusal(
            "nbf beyond the leeway",
            mint(claims(now, nbf=int(now) + 31)),
            "the token is not valid yet",
        ),
        Refusal(
            "iat beyond the leeway",
            mint(claims(now, iat=int(now) + 31)),
            "the token's issue time is in the future",
        ),
        Refusal(
            "aud another service",
            mint(claims(now, aud="https://billing.example.org")),
            AUDIENCE_REFUSED,
        ),
        Refusal(
            "aud a list without ours",
            mint(claims(now, aud=["https://a.example", "b"])),
            AUDIENCE_REFUSED,
        ),
        Refusal("aud a prefix of ours", mint(claims(now, aud=AUDIENCE[:-1])), AUDIENCE_REFUSED),
        Refusal("aud missing", mint(claims(now, aud=None)), "the token lacks the claim aud"),
        Refusal("aud a number", mint(claims(now, aud=7)), AUDIENCE_FORM),
        Refusal("aud a list of numbers", mint(claims(now, aud=[1, 2])), AUDIENCE_FORM),
        Refusal(
            "aud a list with ours and a number", mint(claims(now, aud=[AUDIENCE, 2])), AUDIENCE_FORM
        ),
        Refusal("aud an empty list", mint(claims(now, aud=[])), AUDIENCE_FORM),
        Refusal("aud an object", mint(claims(now, aud={"aud": AUDIENCE})), AUDIENCE_FORM),
        Refusal("iss another", mint(claims(now, iss="https://evil.example.org/")), ISSUER_REFUSED),
        Refusal("iss missing", mint(claims(now, iss=None)), "the token lacks the claim iss"),
        Refusal("iss a prefix of ours", mint(claims(now, iss=ISSUER[:-1])), ISSUER_REFUSED),
        Refusal(
            "iss a superstring of ours", mint(claims(now, iss=ISSUER + "evil")), ISSUER_REFUSED
        ),
        Refusal("iss a list holding ours", mint(claims(now, iss=[ISSUER])), ISSUER_REFUSED),
        Refusal("iss in another case", mint(claims(now, iss=ISSUER.upper())), ISSUER_REFUSED),
        Refusal("sub a number", mint(claims(now, sub=42)), "the token's claim sub is not a string"),
        Refusal("jti a number", mint(claims(now, jti=42)), "the token's claim jti is not a string"),
        *(
            Refusal(f"kid {name}", with_header({"kid": kid}, claims_=claims(now)), UNKNOWN_KEY)
            for name, kid in (
                ("a path traversal", "../../etc/passwd"),
                ("an absolute path", "/dev/zero"),
                ("SQL", "' OR 1=1 --"),
                ("quotes", "\"'`"),
                ("a NUL", "rsa-0\x00"),
                ("a URL", "https://evil.example.org/jwks.json"),
            )
        ),
        Refusal(
            "kid 10 KB long", with_header({"kid": "k" * 10_240}, claims_=claims(now)), TOO_LARGE
        ),
        Refusal(
            "an attacker's key in the jwk header",
            embedded_jwk(claims(now)),
            SIGNATURE,
        ),
        Refusal(
            "an attacker's key in the jwk header, with our kid",
            embedded_jwk(claims(now), kid=rsa_key.kid),
            SIGNATURE,
        ),
        Refusal(
            "crit naming exp",
            with_header({"crit": ["exp"], "exp": int(now)}, claims_=claims(now)),
            "the token has critical headers this service does not understand",
        ),
        Refusal(
            "crit b64",
            with_header({"crit": ["b64"], "b64": False}, claims_=claims(now)),
            "the token has critical headers this service does not understand",
        ),
        Refusal(
            "crit empty",
            with_header({"crit": []}, claims_=claims(now)),
            "the token has critical headers this service does not understand",
        ),
        Refusal("typ refresh+jwt", with_header({"typ": "refresh+jwt"}, claims_=claims(now)), TYPE),
        Refusal("typ a number", with_header({"typ": 1}, claims_=claims(now)), TYPE),
        Refusal(
            "a nested JWT",
            with_header({"cty": "JWT"}, claims_=claims(now)),
            "the token is a nested JWT, which is not accepted",
        ),
        Refusal("header of 8 KB", oversized_header(), TOO_LARGE),
        Refusal("payload of 200 KB", oversized_payload(), TOO_LARGE),
        Refusal("1 MB of garbage", garbage(), TOO_LARGE),
    ]
    made += [Refusal(name, token, MALFORMED_REASON) for name, token in malformed().items()]
    return made


def acceptances(now: float = NOW) -> dict[str, str]:
    """Tokens :func:`options` accepts at the time ``now``, by name."""
    return {
        "RS256 with kid": mint(claims(now)),
        "EdDSA with kid": mint(claims(now), ed25519_pair()),
        "ES256 from a PEM key, no kid": mint(claims(now), ec_pair(), headers={"kid": None}),
        "ES256 from a PEM key, a kid it does not know": mint(claims(now), ec_pair()),
        "RS256 without kid": mint(claims(now), headers={"kid": None}),
        "typ JWT": with_header({"typ": "JWT"}, claims_=claims(now)),
        "typ AT+JWT": with_header({"typ": "AT+JWT"}, claims_=claims(now)),
        "typ application/at+jwt": with_header({"typ": "application/at+jwt"}, claims_=claims(now)),
        "no typ": with_header({"typ": None}, claims_=claims(now)),
        "aud a list holding ours": mint(claims(now, aud=["https://other.example", AUDIENCE])),
        "expired within the leeway": mint(claims(now, exp=int(now) - 29)),
        "nbf within the leeway": mint(claims(now, nbf=int(now) + 29)),
        "iat within the leeway": mint(claims(now, iat=int(now) + 29)),
        "times as floats": mint(claims(now, iat=now - 0.5, exp=now + 60.5, nbf=now - 1.5)),
        "jku and x5u, never fetched": with_header(
            {"jku": "http://127.0.0.1:9/jwks.json", "x5u": "http://127.0.0.1:9/cert.pem"},
            claims_=claims(now),
        ),
        "a jwk header naming our own key": with_header(
            {"jwk": rsa_pair().jwk}, claims_=claims(now)
        ),
    }
