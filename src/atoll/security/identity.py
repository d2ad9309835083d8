"""Who is calling: one :class:`Identity`, asked for by type on every transport.

::

    @service.get("/me")
    async def me(identity: atoll.Identity) -> Profile:
        if not identity.authenticated:
            ...
        return await profiles.of(identity.subject)

An identity is made from what the caller proved (a verified token's claims) by
:func:`identity_of_claims`; a call that proved nothing is :data:`ANONYMOUS`. Authorization
(who may do what) asks the same object.
"""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Mapping  # noqa: TC003 - a dataclass field's type, read at run time
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["ANONYMOUS", "Identity", "identity_of_claims"]

Kind = Literal["user", "service", "anonymous"]

_NO_CLAIMS: Mapping[str, Any] = types.MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling, as proved by its credentials.

    Attributes:
        kind: ``"user"`` (a person, through an application), ``"service"`` (a service
            calling for itself, with a token of its own) or ``"anonymous"`` (no proof).
        subject: who: a token's ``sub``; ``""`` when anonymous.
        issuer: who vouched for it: a token's ``iss``.
        audience: the services the proof is for: a token's ``aud``.
        scopes: what the proof allows: a token's ``scope`` (space-separated) or ``scp``.
        roles: a token's ``roles``.
        claims: every claim of the proof, verified, read-only.
        token_id: a token's ``jti``, for revocation and logs (never the token itself).
        expires: when the proof expires, in UTC.
        scheme: how it was proved: ``"jwt"``, later ``"api-token"``; ``""`` when anonymous.
    """

    kind: Kind = "anonymous"
    subject: str = ""
    issuer: str = ""
    audience: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=lambda: _NO_CLAIMS, repr=False, compare=False)
    token_id: str | None = None
    expires: dt.datetime | None = None
    scheme: str = ""

    @property
    def authenticated(self) -> bool:
        """Whether the caller proved who it is."""
        return self.kind != "anonymous"

    def has_scopes(self, *scopes: str) -> bool:
        """Whether every one of ``scopes`` was granted."""
        return self.scopes.issuperset(scopes)

    def has_roles(self, *roles: str) -> bool:
        """Whether the caller holds every one of ``roles``."""
        return self.roles.issuperset(roles)


ANONYMOUS = Identity()
"""The identity of a call that proved nothing."""


def identity_of_claims(claims: Mapping[str, Any], scheme: str = "jwt") -> Identity:
    """The identity a token's verified ``claims`` prove.

    A token whose ``sub`` is its ``client_id`` was issued to a service for itself (the OAuth2
    client credentials grant, as RFC 9068 2.2 describes it): its kind is ``"service"``; any
    other, ``"user"``.
    """
    subject = str(claims.get("sub", ""))
    client = claims.get("client_id")
    audience = claims.get("aud", ())
    expires = claims.get("exp")
    return Identity(
        kind="service" if client is not None and client == subject else "user",
        subject=subject,
        issuer=str(claims.get("iss", "")),
        audience=(audience,) if isinstance(audience, str) else tuple(map(str, audience)),
        scopes=_scopes(claims),
        roles=frozenset(map(str, _listed(claims.get("roles")))),
        claims=types.MappingProxyType(dict(claims)),
        token_id=None if claims.get("jti") is None else str(claims["jti"]),
        expires=None
        if not isinstance(expires, int | float)
        else dt.datetime.fromtimestamp(expires, dt.UTC),
        scheme=scheme,
    )


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return frozenset(scope.split())
    return frozenset(map(str, _listed(claims.get("scp"))))


def _listed(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list | tuple):
        return list(value)
    return []
