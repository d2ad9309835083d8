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

import contextlib
import dataclasses
import inspect
import typing
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from atoll.errors import (
    ConfigError,
    ForbiddenError,
    ProviderError,
    ServerOwnedFieldError,
    UnauthenticatedError,
)
from atoll.messaging.context import current_call
from atoll.messaging.handlers import Handler, HandlerKind
from atoll.messaging.signing import SIGNED_BY
from atoll.security.auth import identity_of_call
from atoll.security.identity import Identity

if TYPE_CHECKING:
    from atoll.kernel.container import ScopedContainer
    from atoll.kernel.providers import Key
    from atoll.messaging.envelope import Delivery
    from atoll.messaging.handlers import Policy, Signature
    from atoll.security.auth import Authenticator

__all__ = ["DENY", "Allow", "Authorizer", "PolicedCall", "allow"]

Check = Callable[..., bool | Awaitable[bool]]
"""A function of the caller's identity, or of the call's arguments and dependencies."""


class Allow:
    """A policy: who may run a handler; every condition given must hold. See :func:`allow`."""

    __slots__ = ("_plan", "check", "claims", "roles", "scopes", "server_owned", "services")

    def __init__(
        self,
        scopes: Iterable[str] = (),
        *,
        roles: Iterable[str] = (),
        claims: Mapping[str, object] | None = None,
        services: Iterable[str] = (),
        check: Check | None = None,
        server_owned: Iterable[str] = (),
    ) -> None:
        self.server_owned = frozenset(_names(server_owned, "server_owned"))
        self.scopes = frozenset(_names(scopes, "scopes"))
        self.roles = frozenset(_names(roles, "roles"))
        self.claims = dict(claims or {})
        self.services = frozenset(_names(services, "services"))
        if check is not None and not callable(check):
            raise ConfigError(f"check must be a function of the Identity; got {check!r:.60}")
        self.check = check
        self._plan: Signature | None = None
        """A check's parameters, once prepared: ``None`` for a function of the identity."""

    def prepare(self, handler: Handler, provided: Collection[Key]) -> None:
        """Split a check's parameters between the call's inputs and the container's.

        A check of one parameter, unannotated or an :class:`Identity`, is given the caller's
        identity; any other is called as a handler is: each parameter the container
        provides (the identity, a repository, a reader...) from the call's scope, each other
        from the call of ``handler``: an argument by name, or a field of its message.

        Raises:
            ConfigError: the check's parameters cannot be told apart (no type hints), or
                one is neither provided nor given by a call of ``handler``.
        """
        if self.server_owned:
            _check_server_owned(handler, self.server_owned)
        check = self.check
        if check is None or _of_the_identity(check):
            return
        name = getattr(check, "__name__", "check")
        if self._plan is None:
            try:
                self._plan = Handler(check, HandlerKind.RPC, name, "policy").signature(provided)
            except ProviderError as error:
                raise ConfigError(
                    f"the check {name}() of a policy cannot be called: {error}"
                ) from None
        given = _given_by(handler, provided)
        for item in self._plan.inputs:
            if item.required and item.name not in given:
                raise ConfigError(
                    f"the check {name}() of the policy of {handler.label} asks for "
                    f"{item.name!r}, which a call of it does not give: name a parameter of "
                    "the handler, a field of its message, or a type the container provides"
                )

    async def permits(
        self, identity: Identity, sender: str | None = None, call: PolicedCall | None = None
    ) -> bool:
        """Whether ``identity`` (or, for a delivered message, ``sender``) may run it.

        ``call``: the call judged, which a check of more than the identity reads.
        """
        if not identity.has_scopes(*self.scopes) or not identity.has_roles(*self.roles):
            return False
        if any(not _holds(identity.claims.get(k), v) for k, v in self.claims.items()):
            return False
        if self.services and _calling_service(identity, sender) not in self.services:
            return False
        if self.check is not None:
            if self._plan is None:
                verdict = self.check(identity)
            elif call is None:
                raise ConfigError(f"{self!r} judges a call, and none was given")
            else:
                verdict = self.check(**await call.arguments_of(self._plan))
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
        if self.server_owned:
            parts.append(f"server-owned {' '.join(sorted(self.server_owned))}")
        if self.check is not None:
            parts.append(f"{getattr(self.check, '__qualname__', 'a check')}()")
        return "; ".join(parts) or "an identity"

    def __repr__(self) -> str:
        return f"allow({self.describe()})"


class PolicedCall:
    """The call a policy judges: its handler's arguments, and its scope.

    Args:
        handler: the handler called.
        arguments: the caller's inputs, by parameter name (a message handler's message
            under its first parameter's name).
        scope: the call's scope, which the handler's own dependencies come from too.
    """

    __slots__ = ("arguments", "handler", "scope")

    def __init__(self, handler: Handler, arguments: dict[str, Any], scope: ScopedContainer) -> None:
        self.handler = handler
        self.arguments = arguments
        self.scope = scope

    async def arguments_of(self, plan: Signature) -> dict[str, Any]:
        """A check's arguments: its inputs from the call, its dependencies from the scope.

        Raises:
            ConfigError: an input the call does not have, by name nor as a message field.
        """
        given = {}
        message = (
            next(iter(self.arguments.values()), None) if self.handler.kind.takes_message else None
        )
        for item in plan.inputs:
            if item.name in self.arguments:
                given[item.name] = self.arguments[item.name]
            elif message is not None and hasattr(message, item.name):
                given[item.name] = getattr(message, item.name)
            elif not item.required:
                continue
            else:
                raise ConfigError(
                    f"a policy's check asks for {item.name!r}, which {self.handler.label} is "
                    "not called with: name a parameter of the handler, a field of its message, "
                    "or a type the container provides"
                )
        if plan.dependencies:
            given.update(await self.scope.afill(plan.dependencies))
        return given


class _Deny:
    """The policy of a service refusing by default: nobody, for a handler declaring none."""

    __slots__ = ()

    async def permits(
        self,
        identity: Identity,  # noqa: ARG002 - nobody is permitted
        sender: str | None = None,  # noqa: ARG002
        call: PolicedCall | None = None,  # noqa: ARG002
    ) -> bool:
        """Nobody."""
        return False

    def prepare(self, handler: Handler, provided: Collection[Key]) -> None:
        """Nothing to prepare."""

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
    server_owned: Iterable[str] = (),
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
            plain or ``async``, that returns ``True`` to allow; or of the call's arguments
            and dependencies (see :meth:`Allow.prepare`), for an object-level rule.
        server_owned: fields of the message (or body) that the server fills in, such as
            the owner: a call giving one a value other than its default is refused with
            :class:`~atoll.errors.ServerOwnedFieldError` (422).

    ``allow()`` with nothing asks for an authenticated caller alone.

    Raises:
        ConfigError: a name that is not a non-empty string, or a check that is not callable.
    """
    return Allow(
        scopes,
        roles=roles,
        claims=claims,
        services=services,
        check=check,
        server_owned=server_owned,
    )


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

    async def authorize(
        self,
        handler: Handler,
        policy: Policy,
        delivery: Delivery,
        arguments: dict[str, Any],
        scope: ScopedContainer,
    ) -> None:
        """Return if the caller may run ``handler``; raise if ``policy`` refuses it.

        It runs in the call's scope, before the handler's own dependencies are made. A
        check may raise an error of its own instead of refusing, such as the one the
        handler raises for what does not exist: its caller then cannot tell the two apart.

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
        if permits is not None and await permits(
            identity, sender, PolicedCall(handler, arguments, scope)
        ):
            owned = getattr(policy, "server_owned", None)
            if owned:
                _refuse_server_owned(handler, owned, arguments)
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

    async def authorize_read(self, what: str, policy: Allow) -> None:
        """Return if the caller may read ``what``, which no handler guards; raise if refused.

        For what a schema guards by itself, such as a GraphQL field carrying
        ``@needsPermission``: the caller is the call's identity, judged by ``policy`` as a
        handler's would be. A policy whose check reads a call's arguments cannot judge it.

        Raises:
            UnauthenticatedError: the caller proved nothing, and the policy asks for more.
            ForbiddenError: the caller is refused.
        """
        identity = await self.authenticator.identify(current_call())
        if await policy.permits(identity):
            return
        wanted = policy.describe()
        if not identity.authenticated:
            raise UnauthenticatedError(
                f"{what} needs {wanted}: send a token as Authorization: Bearer <token>"
            )
        raise ForbiddenError(f"{what} needs {wanted}")


def _field_defaults(value: object) -> dict[str, object]:
    """The fields of a dataclass instance or type that have a default, with it."""
    if not dataclasses.is_dataclass(value):
        return {}
    defaults: dict[str, object] = {}
    for item in dataclasses.fields(value):
        if item.default is not dataclasses.MISSING:
            defaults[item.name] = item.default
        elif item.default_factory is not dataclasses.MISSING:
            defaults[item.name] = item.default_factory()
    return defaults


def _check_server_owned(handler: Handler, owned: frozenset[str]) -> None:
    """Refuse server-owned names that are no field with a default of what ``handler`` takes.

    Raises:
        ConfigError: a name is no field of its message (or a dataclass parameter), or
            one without a default, which a caller could not leave out.
    """
    types: list[Any] = [handler.message] if handler.message is not None else []
    types += [
        hint
        for name, hint in typing.get_type_hints(handler.function).items()
        if name != "return" and isinstance(hint, type) and dataclasses.is_dataclass(hint)
    ]
    fields = {item.name for kind in types for item in dataclasses.fields(kind)}
    defaults = {name for kind in types for name in _field_defaults(kind)}
    for name in sorted(owned):
        if name not in fields:
            raise ConfigError(
                f"server_owned names {name!r}, which is no field of what {handler.label} "
                "takes: name a field of its message or of its body's dataclass"
            )
        if name not in defaults:
            raise ConfigError(
                f"server-owned field {name!r} of what {handler.label} takes has no default, "
                "so a caller could never leave it out: give it one (the server fills it in)"
            )


def _refuse_server_owned(
    handler: Handler, owned: frozenset[str], arguments: dict[str, Any]
) -> None:
    """Raise if an argument sets a server-owned field to anything but its default."""
    for value in arguments.values():
        if isinstance(value, type):
            continue
        for name, default in _field_defaults(value).items():
            if name in owned and getattr(value, name) != default:
                raise ServerOwnedFieldError(
                    f"{name} is set by the server, not by the caller: leave it out of the "
                    f"call of {handler.name}",
                    name,
                )


def _given_by(handler: Handler, provided: Collection[Key]) -> set[str]:
    """The names a call of ``handler`` gives: its inputs, and its message's fields."""
    names = {item.name for item in handler.signature(provided).inputs}
    if handler.message is not None:
        with contextlib.suppress(NameError, TypeError):  # hints it cannot read: no fields
            names |= set(typing.get_type_hints(handler.message))
    return names


def _of_the_identity(check: Callable[..., object]) -> bool:
    """Whether ``check`` takes the identity alone: one parameter, unannotated or Identity."""
    try:
        parameters = list(inspect.signature(check).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: given the identity
        return True
    if len(parameters) != 1:
        return False
    annotation = parameters[0].annotation
    return annotation in (inspect.Parameter.empty, Identity, "Identity", "atoll.Identity")


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
