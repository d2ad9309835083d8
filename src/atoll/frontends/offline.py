"""Keep a service's pages working offline: its service worker, web app manifest and icon.

::

    worker = service_worker("3f2a9c0d17be", ["/", "/offline.js"], api=["/runs"])
    manifest = web_manifest("Runnerly", theme_color="#0b7285")

The worker is atoll's own (``static/service-worker.js``, no Workbox, no CDN): this module
writes its configuration, the template's first line, and serves the rest as it is. It keeps
every URL of ``precache`` in a cache named by ``version`` (cache first: the shell opens
without the network), answers the GETs under an ``api`` prefix from the network first,
keeping each answer to give back to the same caller (the same ``Authorization``) when the
network fails, and gives a page not precached the ``fallback`` page offline. It keeps no
answer marked ``no-store``, the ``kept`` latest at most, and none once the page's caller
logs out (``remember_token(None)``). A new version waits until the page takes it:
``offline.js`` offers "Reload to update", and the page reloads under the new worker.

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

import hashlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import msgspec

from atoll.errors import ConfigError
from atoll.frontends.asgi import answer, refused, static
from atoll.frontends.build import MANIFEST
from atoll.frontends.elements import escape_attribute
from atoll.frontends.serving import CONTENT_TYPES
from atoll.frontends.shell import script_json

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence

    from atoll.frontends.shell import Shell

    Scope = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
    Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

__all__ = [
    "FILES",
    "OfflineAssets",
    "ShellWorker",
    "WorkerConfig",
    "icon_svg",
    "service_worker",
    "web_manifest",
]

_TEMPLATE = "service-worker.js"
_PAGE_MODULE = "offline.js"
_CONFIG_LINE = b"const ATOLL = "
THEME_COLOR = "#0b7285"
"""The theme's colour when none is given: the lagoon's teal."""
BACKGROUND_COLOR = "#ffffff"
VERSION_LENGTH = 12
"""Hex digits of a shell's worker's version: a build's hash is as long."""
KEPT = 200
"""How many API answers a worker keeps at most, when not told: the oldest goes first."""


def service_worker(
    version: str,
    precache: Sequence[str],
    api: Sequence[str],
    fallback: str = "/",
    *,
    rpc: Mapping[str, Sequence[str]] | None = None,
    fresh: Sequence[str] = (),
    kept: int = KEPT,
) -> bytes:
    """The service worker's script for ``version``: atoll's template, configured.

    Args:
        version: names the precache: a new version is a new worker, which fetches every URL
            again and deletes the caches of the others once it takes over. The hash of a
            build of the components is a good one.
        precache: the paths kept on install and answered from the cache: the shell's pages,
            ``offline.js``, the components' files.
        api: the path prefixes answered from the network first, the last answer kept for
            offline (``"/runs"`` covers ``/runs`` and ``/runs/7``, not ``/runsheet``), under
            its URL and a hash of the caller's ``Authorization``: given back to that caller
            only. An answer marked ``Cache-Control: no-store`` is not kept.
        fallback: the page given, offline, to a navigation not precached; precached itself.
        rpc: the JSON-RPC endpoints (their paths) and the methods of each that only read:
            a POST calling one of these is answered from the network first, its last result
            kept (under its method and parameters) and given back offline with the call's
            own id. Every other call goes to the network alone.
        fresh: precached pages answered from the network first, their precached copy
            offline: a shell's page, composed as its services are when it is asked for.
        kept: how many answers (GETs and reads together) the worker keeps at most: the
            oldest goes first, so that a device used by many callers does not fill up.

    Raises:
        ConfigError: a path is not one (it must start with ``/``), is given twice, is both
            precached and under an API prefix, the fallback or a fresh page is not precached,
            or ``kept`` is less than 1.
    """
    endpoints = dict(rpc or {})
    if not version.strip() or version != version.strip():
        raise ConfigError(
            f"the service worker's version is {version!r}: give a non-empty one without "
            "surrounding spaces, such as the build's hash"
        )
    if kept < 1:
        raise ConfigError(
            f"the service worker is to keep {kept!r} answers: give a whole number of at least 1, "
            f"such as {KEPT}"
        )
    _check_paths("precache", precache)
    _check_paths("api", api)
    _check_paths("fallback", [fallback])
    _check_paths("rpc", list(endpoints))
    _check_paths("fresh", fresh)
    unknown = next((path for path in fresh if path not in precache), None)
    if unknown is not None:
        raise ConfigError(
            f"the fresh page {unknown!r} is not precached, so it would not be there offline: "
            f"add {unknown!r} to precache"
        )
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
        "rpc": {path: sorted(set(reads)) for path, reads in endpoints.items()},
        "fresh": list(fresh),
        "kept": kept,
    }
    template = static(_TEMPLATE)
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


@dataclass(frozen=True)
class WorkerConfig:
    """What a service worker is configured with: see :func:`service_worker`."""

    version: str
    precache: Sequence[str]
    api: Sequence[str] = ()
    fallback: str = "/"
    rpc: Mapping[str, Sequence[str]] = field(default_factory=dict)
    fresh: Sequence[str] = ()
    kept: int = KEPT

    def script(self) -> bytes:
        """The worker's script.

        Raises:
            ConfigError: as :func:`service_worker` does.
        """
        return service_worker(
            self.version,
            self.precache,
            self.api,
            self.fallback,
            rpc=self.rpc,
            fresh=self.fresh,
            kept=self.kept,
        )


FILES = ("/sw.js", "/offline.js", "/manifest.webmanifest", "/icon.svg")
"""The files :class:`OfflineAssets` serves, from where it is mounted."""


class OfflineAssets:
    """The ASGI application serving the worker, ``offline.js``, the manifest and the icon.

    Mount it where the pages' scope begins (``/`` for the whole origin): a worker controls
    the pages under its own address's directory at most, unless its answer allows a wider
    scope, which ``/sw.js`` does (``Service-Worker-Allowed``) for ``scope``.

    The worker's configuration is either given (``version``, ``precache``, ``api``,
    ``fallback``, ``rpc``, ``fresh``, ``kept``), checked as the application is made, or made
    by ``configure`` each time the worker is asked for: a shell's, from its services'
    manifests as they are then (see :class:`ShellWorker`).

    Args:
        name: the application's name, for the manifest.
        version: the worker's version (see :func:`service_worker`).
        precache: the paths the worker keeps on install.
        api: the path prefixes it answers from the network first.
        fallback: the page it gives offline to a navigation not precached.
        rpc: the JSON-RPC endpoints' paths, and the methods of each that only read.
        fresh: the precached pages it answers from the network first.
        kept: how many API answers it keeps at most.
        configure: makes the worker's configuration when it is asked for, instead.
        scope: the pages the worker controls, and the manifest's scope and start URL.
        at: the path the four files are under, when each is routed here with its whole
            path (``service.page("/app/sw.js", assets)``): ``/app``.
        theme_color: the manifest's and the icon's colour.
        background_color: the manifest's background colour, and the icon's.

    Raises:
        ConfigError: as :func:`service_worker` and :func:`web_manifest` do, or neither
            ``version`` nor ``configure`` is given, or both are.
    """

    def __init__(
        self,
        name: str,
        *,
        version: str | None = None,
        precache: Sequence[str] = (),
        api: Sequence[str] = (),
        fallback: str = "/",
        rpc: Mapping[str, Sequence[str]] | None = None,
        fresh: Sequence[str] = (),
        kept: int = KEPT,
        configure: Callable[[], Awaitable[WorkerConfig]] | None = None,
        scope: str = "/",
        at: str = "",
        theme_color: str = THEME_COLOR,
        background_color: str = BACKGROUND_COLOR,
    ) -> None:
        if (version is None) == (configure is None):
            raise ConfigError(
                f"the offline assets of {name!r} are given "
                f"{'both a version and configure' if configure else 'no version'}: give "
                "version= and precache=, or configure= to make them when the worker is asked for"
            )
        self._worker = b""
        if version is not None:
            config = WorkerConfig(version, precache, api, fallback, rpc or {}, fresh, kept)
            self._worker = config.script()
        self.configure = configure
        self.scope = scope
        self.at = at.rstrip("/")
        self.theme_color = theme_color
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
                self._worker,
                javascript,
                [no_cache, (b"service-worker-allowed", scope.encode())],
            ),
            "/offline.js": (static(_PAGE_MODULE), javascript, [no_cache]),
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

    @property
    def paths(self) -> list[str]:
        """The four files' paths from the origin's root, when served ``at`` its path."""
        return [self.at + name for name in FILES]

    def links(self) -> str:
        """What a page's head holds to link the manifest and the icon, and register the worker."""
        at = escape_attribute(self.at)
        register = (
            f"import {{ registerWorker }} from {script_json(self.at + '/offline.js')};\n"
            f"registerWorker({script_json(self.at + '/sw.js')}, "
            f"{{ scope: {script_json(self.scope)} }});\n"
        )
        return (
            f'<link rel="manifest" href="{at}/manifest.webmanifest">\n'
            f'<link rel="icon" href="{at}/icon.svg" type="image/svg+xml">\n'
            f'<meta name="theme-color" content="{escape_attribute(self.theme_color)}">\n'
            f'<script type="module">\n{register}</script>\n'
        )

    async def worker(self) -> bytes:
        """The worker's script, configured now when ``configure`` was given.

        Raises:
            ConfigError: the configuration made is not one (see :func:`service_worker`).
        """
        if self.configure is None:
            return self._worker
        return (await self.configure()).script()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002 - a GET has no body to read
        """Answer a GET or HEAD of one of the four files."""
        if scope["type"] != "http":
            return
        root = scope.get("root_path", "") + self.at
        below = scope["path"].removeprefix(root)
        if await refused(scope, send):
            return
        head = scope["method"] == "HEAD"
        found = self._files.get(below)
        if found is None:
            known = ", ".join(sorted(self._files))
            message = f"no file {below!r} here: the offline assets are {known}\n"
            await answer(send, 404, b"text/plain; charset=utf-8", message.encode(), [], head=head)
            return
        body, kind, headers = found
        if below == "/sw.js":
            body = await self.worker()
        await answer(send, 200, kind, body, headers, head=head)


class ShellWorker:
    """A shell's worker configuration, made from its services' manifests as they are now.

    It precaches the shell's page (answered from the network first: online, the page shows
    the services as they are, a placeholder for one down), the page's offline files
    (``own``), and each service's
    manifest and every file of its build a page loads (not its source maps nor the Python they
    map to), when the service is served on the shell's origin:
    a worker keeps its own origin's addresses only, so the build of a service served
    elsewhere (``--ui-fragments``) loads from the network, and shows its placeholder offline.
    The methods each manifest ``reads`` are answered network first at its endpoint.

    The version is a hash of what the worker keeps and of the shell's own page: the
    configuration (the paths precached, which name each build of this origin by its
    version, and the reads), ``offline.js``, and the page as it is with every service down
    (its title, styles, head and slots). A new build of a service of this origin, or a new
    shell, is a new worker. Never what changes with no deployment: the address of the
    instance of a service elsewhere the page was composed with (one of several, each time),
    nor whether a service answered: each new version installs a new worker, which the page
    offers as "a new version", and whose install fetches the whole precache again.

    Args:
        shell: the shell.
        path: where its page is: precached, and the page given offline to a navigation.
        own: the paths of the offline files its page loads (``offline.js``, the manifest,
            the icon).
    """

    def __init__(self, shell: Shell, path: str, own: Sequence[str]) -> None:
        self.shell = shell
        self.path = path
        self.own = list(own)

    async def __call__(self) -> WorkerConfig:
        """The configuration, as the services' manifests are now."""
        found = await self.shell.manifests()
        precache = [self.path, *self.own]
        rpc: dict[str, list[str]] = {}
        builds: dict[str, str] = {}
        for name, manifest in sorted(found.items()):
            if manifest is None or not _same_origin(manifest["module"]):
                continue
            builds[name] = manifest["version"]
            precache.append(manifest["module"].rsplit("/", 2)[0] + "/" + MANIFEST)
            precache.extend(
                address
                for address in manifest.get("files", [])
                if not address.endswith(_DEBUGGING_ONLY)
            )
            rpc.setdefault(manifest["rpc"]["url"], []).extend(manifest.get("reads", []))
        config = WorkerConfig(
            "",
            list(dict.fromkeys(precache)),
            fallback=self.path,
            rpc={url: sorted(set(reads)) for url, reads in rpc.items()},
            fresh=[self.path],
        )
        return replace(config, version=self._version(config, builds))

    def _version(self, config: WorkerConfig, builds: Mapping[str, str]) -> str:
        """The hash of what ``config`` keeps, of ``builds`` and of the shell's own page."""
        slots = [
            [
                slot.service,
                slot.tag,
                sorted([name, str(value)] for name, value in slot.attributes.items()),
            ]
            for slot in self.shell.slots
        ]
        kept = [config.precache, config.rpc, config.fallback, config.fresh, builds, slots]
        digest = hashlib.sha256(msgspec.json.encode(kept))
        # Every service as found down: the page with none of the addresses it was composed with.
        services = {slot.service for slot in self.shell.slots}
        digest.update(self.shell.render(dict.fromkeys(services)).encode())
        digest.update(static(_PAGE_MODULE))
        return digest.hexdigest()[:VERSION_LENGTH]


_DEBUGGING_ONLY = (".map", ".py")
"""A build's files no page loads: source maps and the Python they map to, which the browser's
developer tools fetch when opened. Precaching them made a first load fetch twice the bytes."""


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


def _same_origin(address: str) -> bool:
    return address.startswith("/") and not address.startswith("//")


def _color(value: str) -> str:
    # The colour lands in an attribute of the SVG: a quote or an angle bracket would end it.
    if any(char in value for char in "\"'<>&"):
        raise ConfigError(f"the colour {value!r} is not one: give a CSS colour, such as '#0b7285'")
    return value
