"""The Content-Security-Policy of the frontends' pages: the shell, and a service's ``/ui/``.

A page holding a bearer token (in ``localStorage``, where a component that logs in keeps it)
and a login form is served with a policy that lets only its own scripts run, reach only the
origins it calls, and keeps it out of any frame:

==================  ==========================================================================
``script-src``      ``'self'``, the SHA-256 of each inline script of the page (the shell's
                    import map and loader, the registration of its worker), and the origins
                    of the services' builds: no other script, inline or loaded, runs
``connect-src``     ``'self'`` and the services' origins: their manifests and JSON-RPC
                    endpoints, where a token is sent, and the same origins over
                    WebSockets (``ws:``, ``wss:``), where components subscribe
``style-src``       ``'self' 'unsafe-inline'`` (below)
``worker-src``      ``'self'`` on a page registering atoll's service worker, else ``'none'``
``object-src``      ``'none'``
``base-uri``        ``'none'``: no ``<base>`` moves where the page's relative addresses go
``frame-ancestors`` ``'none'``, and ``X-Frame-Options: DENY`` for browsers that predate it:
                    no page of another origin frames the login form
==================  ==========================================================================

Styles are allowed inline, not by hashes: the first paint of each component carries its
styles in its declarative shadow root and its view's ``style`` props as ``style``
attributes, whose values come from the data shown, and a hash allows an attribute only with
``'unsafe-hashes'`` and a hash per value. CSS runs no script, and what the policy guards,
the token, is reached by script alone, which the hashes hold.

Images, fonts and media are left to the browser's defaults: a component may show an
avatar from anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["inline_scripts", "page_policy"]

_SCRIPT = re.compile(rb"<script\b([^>]*)>(.*?)</script\s*>", re.DOTALL | re.IGNORECASE)
_SOURCED = re.compile(rb"\bsrc\s*=", re.IGNORECASE)


def inline_scripts(page: bytes) -> list[str]:
    """The CSP sources allowing each inline ``<script>`` of ``page``: ``'sha256-...'``.

    Scripts loaded from an address (``src=``) are allowed by their origin instead.
    """
    hashes = []
    for opening, text in _SCRIPT.findall(page):
        if _SOURCED.search(opening):
            continue
        digest = base64.b64encode(hashlib.sha256(text).digest()).decode("ascii")
        hashes.append(f"'sha256-{digest}'")
    return list(dict.fromkeys(hashes))


def page_policy(
    page: bytes,
    *,
    scripts: Sequence[str] = (),
    connect: Sequence[str] = (),
    worker: bool = False,
) -> list[tuple[bytes, bytes]]:
    """The security headers of ``page``: its Content-Security-Policy, and no framing.

    Args:
        page: the page, whose inline scripts are allowed by their hashes.
        scripts: the origins besides the page's own its modules are loaded from.
        connect: the origins besides the page's own it sends requests to.
        worker: whether the page registers a service worker (of its own origin).
    """
    policy = "; ".join(
        (
            " ".join(["script-src 'self'", *inline_scripts(page), *scripts]),
            " ".join(["connect-src 'self'", *_with_sockets(connect)]),
            "style-src 'self' 'unsafe-inline'",
            "worker-src 'self'" if worker else "worker-src 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    )
    return [
        (b"content-security-policy", policy.encode("ascii")),
        (b"x-frame-options", b"DENY"),
    ]


def _with_sockets(origins: Sequence[str]) -> list[str]:
    """``origins``, each followed by its WebSocket form (``http://h`` by ``ws://h``)."""
    found: list[str] = []
    for origin in origins:
        found.append(origin)
        for web, socket in (("https://", "wss://"), ("http://", "ws://")):
            if origin.startswith(web):
                found.append(socket + origin.removeprefix(web))
                break
    return found
