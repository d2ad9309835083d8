"""Serve a service's built components: its modules, their manifest, and a page showing them.

Mounted at ``/ui`` by a service declaring ``service.components(...)``:

=============================  ===============================================================
``GET /ui/``                   a page showing each component, its first paint rendered here
                               (it shows before the scripts run, and without them)
``GET /ui/fragments.json``     the build's manifest, for a shell: the version, the entry
                               module's address, each component's name, tag and attributes
``GET /ui/<version>/<file>``   a file of the build, cached for a year (``immutable``): a new
                               build has a new version, so a new address
=============================  ===============================================================

The files are read into memory when the build is loaded (a build is some 200 kB), so a
request costs no disk read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from atoll.errors import BuildError
from atoll.frontends.build import ENTRY, read_build
from atoll.frontends.component import render_component
from atoll.frontends.elements import escape, escape_attribute

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping, Sequence
    from pathlib import Path

    from atoll.frontends.build import Build
    from atoll.frontends.component import Component

    Scope = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
    Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

__all__ = ["CONTENT_TYPES", "ComponentAssets", "answer"]

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
IMMUTABLE = b"public, max-age=31536000, immutable"
"""A hashed file's cache header: a year, never revalidated, since its address changes."""


class ComponentAssets:
    """The ASGI application serving the build of a service's components.

    Args:
        title: the page's title (the service's).
        components: the components, in the order the page shows them.
        output: the service's build directory (see :func:`atoll.frontends.build.build_components`).
    """

    def __init__(self, title: str, components: Sequence[type[Component]], output: Path) -> None:
        self.title = title
        self.components = list(components)
        self.output = output
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002 - a GET has no body to read
        """Answer a GET or HEAD of the page, the manifest or a file of the build."""
        if scope["type"] != "http":
            return
        below = scope["path"][len(scope.get("root_path", "")) :]
        root = scope.get("root_path", "")
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
            await answer(
                send,
                200,
                b"text/html; charset=utf-8",
                page,
                [(b"cache-control", b"no-cache")],
                head=head,
            )
        elif below == "/fragments.json":
            body = msgspec.json.encode(self.manifest(root))
            await answer(
                send, 200, b"application/json", body, [(b"cache-control", b"no-cache")], head=head
            )
        elif (found := self._files.get(below[1:])) is not None:
            body, kind = found
            headers = [
                (b"cache-control", IMMUTABLE),
                (b"etag", b'"' + build.version.encode() + b'"'),
            ]
            await answer(send, 200, kind, body, headers, head=head)
        else:
            message = f"no file {below[1:]!r} in build {build.version} of these components\n"
            await answer(send, 404, b"text/plain; charset=utf-8", message.encode(), [], head=head)

    def manifest(self, root: str) -> dict[str, Any]:
        """The build's manifest for a page or a shell, its addresses under ``root``."""
        build = self.build
        assert build is not None  # noqa: S101 - the caller checked
        return {
            "service": build.service,
            "version": build.version,
            "module": f"{root}/{build.module}",
            "components": [
                {"name": each.name, "tag": each.tag, "observed": each.observed}
                for each in build.components
            ],
        }

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


async def answer(
    send: Send,
    status: int,
    kind: bytes,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    head: bool = False,
) -> None:
    """Send a whole answer: ``body`` of type ``kind`` (none for a HEAD) with ``headers``."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", kind),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})
