"""A service that logs, at DEBUG, everything a log line must never show.

It holds a secret option, ``--vault-key``. ``POST /login`` logs its body (a password) and its
headers (``Authorization``, ``Cookie``) as a careless application would, as arguments, in the
log context and in an exception's traceback, then logs the vault's key in a message of its
own. The redaction tests run it as a real process and read what it wrote.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import atoll
from atoll.kernel.logs import log_context

logger = logging.getLogger("vault")


@dataclass(frozen=True)
class VaultOptions:
    """Where the vault is, and its key."""

    key: atoll.Secret = atoll.option(atoll.Secret(""), help="the key that opens the vault")


@dataclass(frozen=True)
class LogIn:
    """A login form."""

    email: str
    password: str


def refuse(key: str, password: str) -> None:
    """Fail with the key and the password in the exception's message."""
    raise PermissionError(f"the vault refused key {key} and password={password!r}")


service = atoll.Service("vault")
service.options("vault", VaultOptions)


@service.post("/login", public=True)
async def log_in(form: LogIn, request: atoll.Request, vault: VaultOptions) -> str:
    """Log the form, the headers and the key every way an application might; answer "ok"."""
    key = vault.key.reveal()
    logger.debug("login form %r with headers %r", form, dict(request.headers))
    logger.debug("opening the vault with %s for %s", key, form.email)
    with log_context(
        authorization=request.headers["authorization"], form=f"password={form.password}"
    ):
        logger.info("logging in %s", form.email)
        try:
            refuse(key, form.password)
        except PermissionError:
            logger.exception("the vault refused")
    return "ok"


if __name__ == "__main__":
    atoll.main(service)
