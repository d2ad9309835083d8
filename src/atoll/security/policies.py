"""Who may run a handler: policies declared beside it, judged in one place for every transport.

::

    @service.command(CloseWeek, policy=atoll.allow(roles=["admin"]))
    async def close_week(command: CloseWeek, uow: RunsUnitOfWork) -> None: ...

    @service.rpc(policy=atoll.allow("runs:read"))
    async def weekly_meters(user_id: int, reader: RunsReader) -> float: ...

    @service.on(RunRecorded, policy=atoll.allow(services=["runs"]))
    async def count_run(event: RunRecorded, uow: StatsUnitOfWork) -> None: ...

A policy (:func:`allow`) asks for scopes, roles, claims, a calling service, or a function of
the :class:`~atoll.security.identity.Identity`: every condition given must hold. The bus hands
each call of a handler with a policy to the service's :class:`Authorizer` before the handler
runs: REST, JSON-RPC (each member of a batch on its own), broker RPC, calls between the
services of a system, commands and events delivered by a broker, and events handled in the
process all meet the same check, so a call refused on one transport is refused on all.

Refused: a caller that proved nothing gets :class:`~atoll.errors.UnauthenticatedError` (401,
JSON-RPC -32012); one that proved who it is, :class:`~atoll.errors.ForbiddenError` (403,
-32013); a delivered message goes to the dead-letter queue at once, with the reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from atoll.errors import ConfigError, ForbiddenError, UnauthenticatedError
from atoll.messaging.context import current_call
from atoll.messaging.signing import SIGNED_BY
from atoll.security.auth import identity_of_call
from atoll.security.identity import Identity

if TYPE_CHECKING:
    from atoll.messaging.envelope import Delivery
    from atoll.messaging.handlers import Handler, Policy
    from atoll.security.auth import Authenticator

__all__ = ["DENY", "Allow", "Authorizer", "allow"]

Check = Callable[[Identity], bool | Awaitable[bool]]


class Allow:
    """A policy: who may run a handler; every condition given must hold. See :func:`allow`."""

    __slots__ = ("check", "claims", "roles", "scopes", "services")

    def __init__(
        self,
        scopes: Iterable[str] = (),
        *,
        roles: Iterable[str] = (),
        claims: Mapping[str, object] | None = None,
        services: Iterable[str] = (),
        check: Check | None = None,
    ) -> None:
        self.scopes = frozenset(_names(scopes, "scopes"))
        self.roles = frozenset(_names(roles, "roles"))
        self.claims = dict(claims or {})
        self.services = frozenset(_names(services, "services"))
        if check is not None and not callable(check):
            raise ConfigError(f"check must be a function of the Identity; got {check!r:.60}")
        self.check = check

    async def permits(self, identity: Identity, sender: str | None = None) -> bool:
        """Whether ``identity`` (or, for a delivered message, ``sender``) may run it."""
        if not identity.has_scopes(*self.scopes) or not identity.has_roles(*self.roles):
            return False
        if any(not _holds(identity.claims.get(k), v) for k, v in self.claims.items()):
            return False
        if self.services and _calling_service(identity, sender) not in self.services:
            return False
        if self.check is not None:
            verdict = self.check(identity)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            return verdict is True
        return True

    def describe(self) -> str:
        """What it asks for, in a few words: ``scopes runs:read; roles admin``."""
        parts = []
        if self.scopes:
            parts.append(f"scopes {' '.join(sorted(self.scopes))}")
        if self.roles:
            parts.append(f"roles {' '.join(sorted(self.roles))}")
        if self.claims:
            parts.append("claims " + ", ".join(f"{k}={v!r}" for k, v in self.claims.items()))
        if self.services:
            parts.append(f"the service {' or '.join(sorted(self.services))}")
        if self.check is not None:
            parts.append(f"{getattr(self.check, '__qualname__', 'a check')}()")
        return "; ".join(parts) or "an identity"

    def __repr__(self) -> str:
        return f"allow({self.describe()})"


class _Deny:
    """The policy of a service refusing by default: nobody, for a handler declaring none."""

    __slots__ = ()

    async def permits(
        self,
        identity: Identity,  # noqa: ARG002 - nobody is permitted
        sender: str | None = None,  # noqa: ARG002
    ) -> bool:
        """Nobody."""
        return False

    def describe(self) -> str:
        """Why nobody may."""
        return "a policy (the service refuses every handler that declares none: policy=)"

    def __repr__(self) -> str:
        return "DENY"


DENY = _Deny()
"""Nobody may run it: the default policy of a service started with ``--auth-default-deny``."""


def allow(
    *scopes: str,
    roles: Iterable[str] = (),
    claims: Mapping[str, object] | None = None,
    services: Iterable[str] = (),
    check: Check | None = None,
) -> Allow:
    """A policy: callers holding every one of ``scopes`` and ``roles``, and so on.

    Args:
        scopes: scopes the caller's token must grant, each of them.
        roles: roles the caller must hold, each of them.
        claims: claims the caller's token must hold, by name: the value itself, or, for a
            claim that is a list, a value in it.
        services: the calling service, one of these: a call of a service identity (a
            token whose ``sub`` is its ``client_id``) with that subject, or a delivered
            message sent by it (the client that signed it, where the service takes signed
            messages only; else its ``sender`` header).
        check: a function of the caller's :class:`~atoll.security.identity.Identity`,
            plain or ``async``, that returns ``True`` to allow.

    ``allow()`` with nothing asks for an authenticated caller alone.

    Raises:
        ConfigError: a name that is not a non-empty string, or a check that is not callable.
    """
    return Allow(scopes, roles=roles, claims=claims, services=services, check=check)


class Authorizer:
    """Judges the policies of a service's handlers: the bus's ``authorize``.

    The caller is the identity the call's credentials prove (established by the
    authenticator, once per call), or, for a message a broker delivered, who made the outside
    call it follows from, with its sending service.

    Args:
        authenticator: establishes who is calling.
    """

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    async def authorize(self, handler: Handler, policy: Policy, delivery: Delivery) -> None:
        """Return if the caller may run ``handler``; raise if ``policy`` refuses it.

        Raises:
            UnauthenticatedError: the caller proved nothing (a call), and the policy asks
                for more.
            ForbiddenError: the caller, or the message's sender, is refused.
        """
        context = current_call()
        sender: str | None = None
        if context is None and delivery.message_id is not None:
            identity = identity_of_call(delivery)
            sender = _sender(delivery)
        else:
            identity = await self.authenticator.identify(context)
        permits = getattr(policy, "permits", None)
        if permits is not None and await permits(identity, sender):
            return
        wanted = policy.describe()
        if delivery.message_id is not None and context is None:
            raise ForbiddenError(
                f"{handler.service}.{handler.name} takes it from {wanted} only; it was sent by "
                f"{sender or 'an unnamed sender'}"
                + (f" for {identity.subject}" if identity.authenticated else "")
            )
        if not identity.authenticated:
            raise UnauthenticatedError(
                f"{handler.name} needs {wanted}: send a token as Authorization: Bearer <token>"
            )
        raise ForbiddenError(f"{handler.name} needs {wanted}")


def _sender(delivery: Delivery) -> str | None:
    """Who sent a delivered message: the client that signed it, if checked; else its sender."""
    signer = delivery.headers.get(SIGNED_BY)
    sender = signer if signer is not None else delivery.headers.get("sender")
    return sender if isinstance(sender, str) and sender else None


def _calling_service(identity: Identity, sender: str | None) -> str | None:
    if sender is not None:
        return sender
    return identity.subject if identity.kind == "service" else None


def _holds(value: object, wanted: object) -> bool:
    if isinstance(value, list | tuple) and not isinstance(wanted, list | tuple):
        return wanted in value
    return value == wanted


def _names(names: Iterable[object], what: str) -> list[str]:
    if isinstance(names, str):
        raise ConfigError(f"{what} is a list of names, not one string: [{names!r}]")
    listed: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{what} holds {name!r}, not a name")
        listed.append(name)
    return listed
