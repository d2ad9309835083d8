"""Keep a service's pages working offline: its service worker, web app manifest and icon.

::

    worker = service_worker("3f2a9c0d17be", ["/", "/offline.js"], api=["/runs"])
    manifest = web_manifest("Runnerly", theme_color="#0b7285")

The worker is atoll's own (``static/service-worker.js``, no Workbox, no CDN): this module
writes its configuration, the template's first line, and serves the rest as it is. It keeps
every URL of ``precache`` in a cache named by ``version`` (cache first: the shell opens
without the network), answers the GETs under an ``api`` prefix from the network first,
keeping each answer to give back when the network fails, and gives a page not precached the
``fallback`` page offline. A new version waits until the page takes it: ``offline.js``
offers "Reload to update", and the page reloads under the new worker.

:class:`OfflineAssets` serves the four files a page needs, in ASGI:

=============================  ===============================================================
``GET /sw.js``                 the service worker, never cached by HTTP (``no-cache``), so a
                               new version is seen at the next update check
``GET /offline.js``            the module that registers it and offers its updates
``GET /manifest.webmanifest``  the web app manifest, with the icon
``GET /icon.svg``              the icon: a ring (an atoll) in the theme's colour
=============================  ===============================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from atoll.errors import ConfigError
from atoll.frontends.asgi import answer
from atoll.frontends.serving import CONTENT_TYPES

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence

    Scope = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
    Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

__all__ = ["OfflineAssets", "icon_svg", "service_worker", "web_manifest"]

_STATIC = Path(__file__).resolve().parent / "static"
_TEMPLATE = _STATIC / "service-worker.js"
_PAGE_MODULE = _STATIC / "offline.js"
_CONFIG_LINE = b"const ATOLL = "
THEME_COLOR = "#0b7285"
"""The theme's colour when none is given: the lagoon's teal."""
BACKGROUND_COLOR = "#ffffff"


def service_worker(
    version: str, precache: Sequence[str], api: Sequence[str], fallback: str = "/"
) -> bytes:
    """The service worker's script for ``version``: atoll's template, configured.

    Args:
        version: names the precache: a new version is a new worker, which fetches every URL
            again and deletes the caches of the others once it takes over. The hash of a
            build of the components is a good one.
        precache: the paths kept on install and answered from the cache: the shell's pages,
            ``offline.js``, the components' files.
        api: the path prefixes answered from the network first, the last answer kept for
            offline (``"/runs"`` covers ``/runs`` and ``/runs/7``, not ``/runsheet``).
        fallback: the page given, offline, to a navigation not precached; precached itself.

    Raises:
        ConfigError: a path is not one (it must start with ``/``), is given twice, is both
            precached and under an API prefix, or the fallback is not precached.
    """
    if not version.strip() or version != version.strip():
        raise ConfigError(
            f"the service worker's version is {version!r}: give a non-empty one without "
            "surrounding spaces, such as the build's hash"
        )
    _check_paths("precache", precache)
    _check_paths("api", api)
    _check_paths("fallback", [fallback])
    for path in precache:
        prefix = next((each for each in api if _under(path, each)), None)
        if prefix is not None:
            raise ConfigError(
                f"{path!r} is both precached and under the API prefix {prefix!r}: an API "
                "answer is fetched from the network first, a precached file from the cache; "
                "take it out of one of the two"
            )
    if fallback not in precache:
        raise ConfigError(
            f"the offline fallback page {fallback!r} is not precached, so it would not be "
            f"there offline: add {fallback!r} to precache"
        )
    config = {
        "version": version,
        "precache": list(precache),
        "api": list(api),
        "fallback": fallback,
    }
    template = _TEMPLATE.read_bytes()
    first, newline, rest = template.partition(b"\n")
    # The template's first line is its configuration: a change to the file that moved it
    # would leave the worker with the placeholder's, and no test of a page would say why.
    assert first.startswith(_CONFIG_LINE), "service-worker.js starts with const ATOLL = ..."  # noqa: S101
    return _CONFIG_LINE + msgspec.json.encode(config) + b";" + newline + rest


def web_manifest(
    name: str,
    *,
    short_name: str | None = None,
    start_url: str = "/",
    scope: str = "/",
    theme_color: str = THEME_COLOR,
    background_color: str = BACKGROUND_COLOR,
    icons: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """The web app manifest of a service's pages (W3C), which lets a browser install them.

    Args:
        name: the application's name, as an installed app's.
        short_name: the name under its icon, where ``name`` is too long; ``name`` by default.
        start_url: the page an installed app opens; within ``scope``.
        scope: the addresses that belong to the app (the service worker's scope, usually).
        theme_color: the colour of the app's title bar.
        background_color: the colour shown while the app's first page loads.
        icons: each icon's members (``src``, ``sizes``, ``type``, ``purpose``); ``src`` is
            read from the manifest's address. :class:`OfflineAssets` gives :func:`icon_svg`'s.

    Raises:
        ConfigError: the name is empty, or ``start_url`` is outside ``scope`` (a browser would
            drop it and open the scope instead).
    """
    if not name.strip():
        raise ConfigError("the web app manifest's name is empty: give the application's name")
    if not start_url.startswith(scope):
        raise ConfigError(
            f"the start URL {start_url!r} is outside the scope {scope!r}, so a browser would "
            "ignore it: give a start URL under the scope, or a wider scope"
        )
    return {
        "name": name,
        "short_name": short_name or name,
        "start_url": start_url,
        "scope": scope,
        "display": "standalone",
        "theme_color": theme_color,
        "background_color": background_color,
        "icons": [dict(each) for each in icons],
    }


def icon_svg(color: str = THEME_COLOR, background: str = BACKGROUND_COLOR) -> str:
    """A square SVG icon: a ring of reef in ``color`` round its lagoon, on ``background``.

    A vector scales to every size a browser asks for, so one file serves as all icons, and
    the package holds no binary file.
    """
    color, background = _color(color), _color(background)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 96 96" width="96" height="96">'
        f'<rect width="96" height="96" rx="20" fill="{background}"/>'
        f'<circle cx="48" cy="48" r="24" fill="{color}" fill-opacity="0.25"/>'
        f'<circle cx="48" cy="48" r="30" fill="none" stroke="{color}" stroke-width="10"/>'
        "</svg>"
    )


class OfflineAssets:
    """The ASGI application serving the worker, ``offline.js``, the manifest and the icon.

    Mount it where the pages' scope begins (``/`` for the whole origin): a worker controls
    the pages under its own address's directory at most, unless its answer allows a wider
    scope, which ``/sw.js`` does (``Service-Worker-Allowed``) for ``scope``.

    Args:
        name: the application's name, for the manifest.
        version: the worker's version (see :func:`service_worker`).
        precache: the paths the worker keeps on install.
        api: the path prefixes it answers from the network first.
        fallback: the page it gives offline to a navigation not precached.
        scope: the pages the worker controls, and the manifest's scope and start URL.
        theme_color: the manifest's and the icon's colour.
        background_color: the manifest's background colour, and the icon's.

    Raises:
        ConfigError: as :func:`service_worker` and :func:`web_manifest` do.
    """

    def __init__(
        self,
        name: str,
        *,
        version: str,
        precache: Sequence[str],
        api: Sequence[str] = (),
        fallback: str = "/",
        scope: str = "/",
        theme_color: str = THEME_COLOR,
        background_color: str = BACKGROUND_COLOR,
    ) -> None:
        icon = {"src": "icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"}
        manifest = web_manifest(
            name,
            start_url=scope,
            scope=scope,
            theme_color=theme_color,
            background_color=background_color,
            icons=[icon],
        )
        javascript = CONTENT_TYPES[".js"].encode()
        no_cache = (b"cache-control", b"no-cache")
        self._files: dict[str, tuple[bytes, bytes, list[tuple[bytes, bytes]]]] = {
            "/sw.js": (
                service_worker(version, precache, api, fallback),
                javascript,
                [no_cache, (b"service-worker-allowed", scope.encode())],
            ),
            "/offline.js": (_PAGE_MODULE.read_bytes(), javascript, [no_cache]),
            "/manifest.webmanifest": (
                msgspec.json.encode(manifest),
                CONTENT_TYPES[".webmanifest"].encode(),
                [no_cache],
            ),
            "/icon.svg": (
                icon_svg(theme_color, background_color).encode(),
                CONTENT_TYPES[".svg"].encode(),
                [no_cache],
            ),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002 - a GET has no body to read
        """Answer a GET or HEAD of one of the four files."""
        if scope["type"] != "http":
            return
        below = scope["path"][len(scope.get("root_path", "")) :]
        if scope["method"] not in {"GET", "HEAD"}:
            await answer(
                send,
                405,
                b"text/plain; charset=utf-8",
                b"only GET and HEAD\n",
                [(b"allow", b"GET, HEAD")],
            )
            return
        head = scope["method"] == "HEAD"
        found = self._files.get(below)
        if found is None:
            known = ", ".join(sorted(self._files))
            message = f"no file {below!r} here: the offline assets are {known}\n"
            await answer(send, 404, b"text/plain; charset=utf-8", message.encode(), [], head=head)
            return
        body, kind, headers = found
        await answer(send, 200, kind, body, headers, head=head)


def _check_paths(what: str, paths: Sequence[str]) -> None:
    if isinstance(paths, str):
        raise ConfigError(
            f"{what} is the string {paths!r}, where a list of paths is expected: write [{paths!r}]"
        )
    seen: set[str] = set()
    for path in paths:
        if not path.startswith("/") or path.startswith("//"):
            raise ConfigError(
                f"{what} holds {path!r}, which is not a path of this origin: write it from the "
                f"origin's root, such as '/{path.lstrip('/') or 'index.html'}' (the worker "
                "keeps this service's addresses only)"
            )
        if path in seen:
            raise ConfigError(f"{what} holds {path!r} twice: give each path once")
        seen.add(path)


def _under(path: str, prefix: str) -> bool:
    """Whether ``path`` is under the API ``prefix``, as the worker decides (``isApi``)."""
    path = path.partition("?")[0]
    return path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/")


def _color(value: str) -> str:
    # The colour lands in an attribute of the SVG: a quote or an angle bracket would end it.
    if any(char in value for char in "\"'<>&"):
        raise ConfigError(f"the colour {value!r} is not one: give a CSS colour, such as '#0b7285'")
    return value
