"""Serve a service's built components: its modules, their manifest, and a page showing them.

Mounted at ``/ui`` by a service declaring ``service.components(...)``:

=============================  ===============================================================
``GET /ui/``                   a page showing each component, its first paint rendered here
                               (it shows before the scripts run, and without them), with a
                               Content-Security-Policy allowing this origin alone (see
                               :mod:`atoll.frontends.policy`)
``GET /ui/fragments.json``     the build's manifest, for a shell: the version, the entry
                               module's address, every file's, the JSON-RPC endpoint and
                               the methods that only read, each component's name, tag and
                               attributes
``GET /ui/<version>/<file>``   a file of the build, cached for a year (``immutable``): a new
                               build has a new version, so a new address
``POST /ui/paint``             the first paint of elements a shell of another process shows:
                               ``{"slots": [{"tag", "attributes"}]}`` answered with
                               ``{"paints": [html or null]}``, so that its page shows them
                               before any script runs, as a shell of this process does
=============================  ===============================================================

The files are read into memory when the build is loaded (a build is some 200 kB), so a
request costs no disk read.
"""

from __future__ import annotations

import asyncio
import importlib
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from atoll.errors import BuildError, ConfigError
from atoll.frontends.asgi import answer, refused
from atoll.frontends.build import ENTRY, build_components, read_build, stale
from atoll.frontends.component import render_component
from atoll.frontends.elements import escape, escape_attribute
from atoll.frontends.policy import page_policy
from atoll.frontends.shell import RemoteFragments

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from atoll.frontends.asgi import Receive, Scope, Send
    from atoll.frontends.build import Build, Compiler
    from atoll.frontends.component import Component
    from atoll.frontends.options import UiOptions
    from atoll.frontends.shell import FragmentSource, Shell, Slot
    from atoll.resilience.registry import Registry

__all__ = ["CONTENT_TYPES", "ComponentAssets", "Frontends", "LocalFragments"]

PAINT = "/paint"
"""Where a shell of another process asks a service for its elements' first paint."""
PAINT_MOST = 65_536
"""The longest request for paints, in bytes: a shell's slots and their attributes."""


class PaintSlot(msgspec.Struct, frozen=True):
    """An element a shell asks the first paint of: its tag, and its attributes."""

    tag: str
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)


class PaintRequest(msgspec.Struct, frozen=True):
    """What a shell of another process asks for: the first paint of each of its slots."""

    slots: list[PaintSlot]


CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".map": "application/json",
    ".py": "text/x-python; charset=utf-8",
    ".json": "application/json",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}
PUBLIC = (b"access-control-allow-origin", b"*")
"""The manifest and the files are public, loaded as modules by a shell on any origin."""
IMMUTABLE = b"public, max-age=31536000, immutable"
"""A hashed file's cache header: a year, never revalidated, since its address changes."""


class ComponentAssets:
    """The ASGI application serving the build of a service's components.

    Args:
        title: the page's title (the service's).
        components: the components, in the order the page shows them.
        output: the service's build directory (see :func:`atoll.frontends.build.build_components`);
            :class:`Frontends` sets it from the options when the service starts.
    """

    def __init__(
        self, title: str, components: Sequence[type[Component]], output: Path | None = None
    ) -> None:
        self.title = title
        self.components = list(components)
        self.output = output if output is not None else Path("build/ui") / title
        self.rpc_url = "/rpc"
        """Where the service's JSON-RPC endpoint is, from its origin (``--server-rpc-path``)."""
        self.method_prefix = ""
        """What its methods' names start with there: ``runs.`` in a system, none alone."""
        self.graphql_url: str | None = None
        """Where its GraphQL endpoint is, from its origin, when it serves one: its
        subscriptions, which a component subscribes to (``host.subscribe``)."""
        self.reads: list[str] = []
        """Its JSON-RPC methods that only read, named as at the endpoint (prefix included)."""
        self.build: Build | None = None
        self._files: dict[str, tuple[bytes, bytes]] = {}

    def load(self) -> Build:
        """Read the build in the output directory, its files into memory.

        Raises:
            BuildError: there is no build there, or a file of it is missing.
        """
        build = read_build(self.output)
        if build is None:
            raise BuildError(
                f"no build of the components in {self.output}: build them with atoll frontends "
                "build MODULE:OBJECT, or start the service with --ui-build on"
            )
        files = {}
        for name in build.files:
            try:
                body = (self.output / name).read_bytes()
            except FileNotFoundError as error:
                raise BuildError(
                    f"the build in {self.output} misses {name}: build the components again"
                ) from error
            suffix = name[name.rfind(".") :]
            kind = CONTENT_TYPES.get(suffix, "application/octet-stream")
            files[name] = (body, kind.encode())
        self._files = files
        self.build = build
        return build

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a GET or HEAD of the page, the manifest or a file; a POST of paints."""
        if scope["type"] != "http":
            return
        below = scope["path"][len(scope.get("root_path", "")) :]
        root = scope.get("root_path", "")
        if below == PAINT and scope["method"] == "POST":
            await self._paint(receive, send)
            return
        if await refused(scope, send):
            return
        head = scope["method"] == "HEAD"
        build = self.build
        if build is None:
            await answer(
                send,
                503,
                b"text/plain; charset=utf-8",
                b"the components are not built yet\n",
                [(b"retry-after", b"1")],
            )
            return
        if below in {"", "/"}:
            page = self.page(root).encode()
            # Its one script is the build's entry module, of this origin, which calls this
            # origin alone: no other origin is allowed anything.
            headers = [(b"cache-control", b"no-cache"), *page_policy(page)]
            await answer(send, 200, b"text/html; charset=utf-8", page, headers, head=head)
        elif below == "/fragments.json":
            body = msgspec.json.encode(self.manifest(root))
            headers = [(b"cache-control", b"no-cache"), PUBLIC]
            await answer(send, 200, b"application/json", body, headers, head=head)
        elif (found := self._files.get(below[1:])) is not None:
            body, kind = found
            headers = [
                (b"cache-control", IMMUTABLE),
                PUBLIC,
                (b"etag", b'"' + build.version.encode() + b'"'),
            ]
            await answer(send, 200, kind, body, headers, head=head)
        else:
            message = f"no file {below[1:]!r} in build {build.version} of these components\n"
            await answer(send, 404, b"text/plain; charset=utf-8", message.encode(), [], head=head)

    def manifest(self, root: str) -> dict[str, Any]:
        """The build's manifest for a page or a shell, its addresses under ``root``.

        ``rpc`` says where the components call their service: the JSON-RPC endpoint's path
        on the service's origin, and the prefix of its methods' names there; ``reads``, which
        of those methods (named as there) only read, whose answers a shell's service worker
        may give again offline. ``files`` is every file of the build, for a worker to precache.
        """
        build = self.build
        assert build is not None  # noqa: S101 - the caller checked
        return {
            "service": build.service,
            "version": build.version,
            "module": f"{root}/{build.module}",
            "files": [f"{root}/{name}" for name in build.files],
            "rpc": {"url": self.rpc_url, "prefix": self.method_prefix},
            "paint": f"{root}{PAINT}",
            "graphql": None if self.graphql_url is None else {"url": self.graphql_url},
            "reads": list(self.reads),
            "components": [
                {"name": each.name, "tag": each.tag, "observed": each.observed}
                for each in build.components
            ],
        }

    async def _paint(self, receive: Receive, send: Send) -> None:
        """Answer the first paints a shell asks for: each slot's element, or null."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":  # the shell gave up: nobody to answer
                return
            body += message.get("body", b"")
            if len(body) > PAINT_MOST:
                tells = f"a request for paints holds at most {PAINT_MOST} bytes\n"
                await answer(send, 413, b"text/plain; charset=utf-8", tells.encode())
                return
            if not message.get("more_body", False):
                break
        try:
            asked = msgspec.json.decode(bytes(body), type=PaintRequest)
        except msgspec.DecodeError as error:
            tells = f"not a request for paints ({{'slots': [{{'tag', 'attributes'}}]}}): {error}\n"
            await answer(send, 400, b"text/plain; charset=utf-8", tells.encode())
            return
        painted = [self.paint(slot.tag, slot.attributes) for slot in asked.slots]
        reply = msgspec.json.encode({"paints": painted})
        await answer(send, 200, b"application/json", reply, [(b"cache-control", b"no-store")])

    def paint(self, tag: str, attributes: Mapping[str, object]) -> str | None:
        """The element ``tag`` with ``attributes`` and its first paint; None for no such tag."""
        component = next((c for c in self.components if c.tag == tag), None)
        if component is None:
            return None
        return render_component(component, dict(attributes))

    def page(self, root: str) -> str:
        """The page showing each component with no attribute set, rendered here first."""
        build = self.build
        assert build is not None  # noqa: S101 - the caller checked
        shown = "\n".join(
            f"<section>{render_component(each)}</section>" for each in self.components
        )
        module = escape_attribute(f"{root}/{build.version}/{ENTRY}")
        return (
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(self.title)}</title>\n"
            f'<script type="module" src="{module}"></script>\n'
            f"</head>\n<body>\n<main>\n{shown}\n</main>\n</body>\n</html>\n"
        )


class Frontends:
    """The components of a process's services: built as it starts when stale, then served.

    A lifecycle component: :meth:`start` builds each service's components whose build is
    missing or older than their sources (``--ui-build auto``), in a thread, and loads each
    build into its :class:`ComponentAssets`.

    Args:
        served: each service's name and the application serving its components.
        options: the ``[ui]`` options.
        rpc: where the services' JSON-RPC endpoint is, and whether this process runs a
            system (whose methods are named ``<service>.<method>`` there).
        reads: each service's JSON-RPC methods that only read, named as at the endpoint:
            its manifest's ``reads``.
        registry: where a shell finds the services neither this process runs nor
            ``--ui-fragments`` places (``--registry-url``), if anywhere.
        graphql: the path of the GraphQL endpoint of each service serving one, by name:
            its manifest's ``graphql``, where its components subscribe.
        compiler: what compiles the components; Transcrypt's (``atoll.adapters.transcrypt``)
            when None.
    """

    def __init__(
        self,
        served: Sequence[tuple[str, ComponentAssets]],
        options: UiOptions,
        compiler: Compiler | None = None,
        *,
        rpc: tuple[str, bool] = ("/rpc", False),
        reads: Mapping[str, Sequence[str]] | None = None,
        registry: Registry | None = None,
        graphql: Mapping[str, str] | None = None,
    ) -> None:
        self.served = list(served)
        self.options = options
        self.compiler = compiler
        self.registry = registry
        self.client: httpx.AsyncClient | None = None
        """What reads the manifests of services served elsewhere, for the shells."""
        path, system = rpc
        for name, assets in self.served:
            assets.output = Path(options.build_dir) / name
            assets.rpc_url = path
            assets.method_prefix = name + "." if system else ""
            assets.reads = list((reads or {}).get(name, ()))
            assets.graphql_url = (graphql or {}).get(name)

    def compose(self, shell: Shell) -> None:
        """Give ``shell`` its sources: the services here, and those ``--ui-fragments`` gives.

        Raises:
            ConfigError: a slot's service runs elsewhere, and no address says where.
        """
        local = dict(self.served)
        remote = self.options.addresses()
        sources: dict[str, FragmentSource] = {}
        for slot in shell.slots:
            name = slot.service
            if name in sources:
                continue
            if name in local:
                sources[name] = LocalFragments(name, local[name])
            elif name in remote or self.registry is not None:
                if self.client is None:
                    self.client = httpx.AsyncClient()
                found = remote[name] if name in remote else self._registered(name)
                sources[name] = RemoteFragments(name, found, self.client)
            else:
                raise ConfigError(
                    f"the shell {shell.title!r} shows {slot.tag} of service {name!r}, which "
                    f"this process does not run: say where it is with --ui-fragments "
                    f"{name}=http://HOST:PORT, or find it in a registry (--registry-url)"
                )
        shell.sources = sources

    def _registered(self, service: str) -> Callable[[], Awaitable[str | None]]:
        """What finds where an instance of ``service`` serves its components, in the registry."""
        registry = self.registry
        assert registry is not None  # noqa: S101 - the caller checked

        async def found() -> str | None:
            shipping = [
                each.urls["ui"].removesuffix(f"/ui/{service}")
                for each in await registry.instances(service)
                if "ui" in each.urls and each.health == "up"
            ]
            return random.choice(shipping) if shipping else None  # noqa: S311 - no secret

        return found

    async def start(self) -> None:
        """Build what is stale (when asked to), and load every build.

        Raises:
            BuildError: a build failed, or there is none to serve.
        """
        building = [
            asyncio.to_thread(
                build_components,
                name,
                assets.components,
                assets.output,
                self.compiler or _transcrypt(),
            )
            for name, assets in self.served
            if self.options.build == "auto" and stale(assets.output, assets.components)
        ]
        await asyncio.gather(*building)  # each in a thread: the compilers run side by side
        for _, assets in self.served:
            assets.load()

    async def stop(self) -> None:
        """Close the connections the shells read remote manifests through."""
        if self.client is not None:
            await self.client.aclose()


def _transcrypt() -> Compiler:
    adapter = importlib.import_module("atoll.adapters.transcrypt")
    compiler: Compiler = adapter.TranscryptCompiler()
    return compiler


class LocalFragments:
    """The components of a service the shell's process runs: its build, read in memory."""

    def __init__(self, service: str, assets: ComponentAssets) -> None:
        self.service = service
        self.assets = assets

    async def manifest(self) -> dict[str, Any] | None:  # noqa: D102 - the protocol's
        if self.assets.build is None:
            return None
        return self.assets.manifest(f"/ui/{self.service}")

    async def paint(self, slots: Sequence[Slot], manifest: dict[str, Any]) -> list[str | None]:  # noqa: D102 - the protocol's
        del manifest
        return [
            self.assets.paint(slot.tag, {**slot.attributes, "data_atoll_service": slot.service})
            for slot in slots
        ]
