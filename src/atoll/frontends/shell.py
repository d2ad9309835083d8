"""The shell: one page composing the components of several services, each served by its own.

::

    service.shell("Runnerly", [
        Slot("users", "users-profile-card"),
        Slot("runs", "runs-record-form"),
        Slot("stats", "stats-weekly-chart"),
    ])

Each time the page is asked for, the shell reads each service's manifest
(``/ui/<service>/fragments.json``): from the build in the process for a service it runs, over
HTTP from the address configured for one it does not (``--ui-fragments
runs=http://10.0.0.7:8002``). It then writes:

- an import map giving each service's build a name (``@runs/`` is its hashed directory), and
  the list of entry modules, which its loader (``atoll-shell.js``) imports each apart;
- each slot's element, marked with its service (``data-atoll-service``), with its first
  paint: rendered in the process for a component it runs, and asked of the service's own
  process for one it does not (``POST /ui/<service>/paint``, every slot of the service at
  once), so that the page shows each part before any script runs, and without JavaScript;
  an element whose paint cannot be had is written bare, and the browser renders it;
- a placeholder (``<div class="atoll-placeholder" role="status">``) for each slot of a
  service whose manifest could not be read, or is no manifest (:class:`Manifest` decodes
  it); the loader puts one in place of the elements of a service whose modules fail to load
  later. Either way the other services' parts work.

The page is served with a Content-Security-Policy allowing its own inline scripts and the
services' origins alone (see :mod:`atoll.frontends.policy`); what it writes from a manifest
into its scripts holds no ``<``, ``>`` nor ``&``, so that no manifest ends one.

``service.shell(...)`` makes the page work offline too, by default: it fills :attr:`Shell.head`
with the links to atoll's service worker and web app manifest, whose configuration
:class:`atoll.frontends.offline.ShellWorker` makes from :meth:`Shell.manifests`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin, urlsplit

import msgspec

from atoll.frontends.asgi import answer, refused, static
from atoll.frontends.elements import escape, escape_attribute
from atoll.frontends.policy import page_policy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    import httpx

    from atoll.frontends.asgi import Receive, Scope, Send

__all__ = [
    "FragmentSource",
    "Manifest",
    "ManifestComponent",
    "ManifestRpc",
    "RemoteFragments",
    "Shell",
    "Slot",
    "script_json",
]

MANIFEST_TIMEOUT = 2.0
"""Seconds the shell waits for a remote service's manifest before showing its placeholder."""
_STYLES = """
body { margin: 0; font-family: system-ui, sans-serif; background: #f6f7f9; color: #1d2330; }
header { padding: 0.8rem 1.2rem; background: #1d2330; color: #fff; }
header h1 { margin: 0; font-size: 1.2rem; }
main { display: grid; gap: 1rem; padding: 1rem 1.2rem;
       grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); }
.atoll-placeholder { padding: 1rem; border: 1px dashed #9aa3b2; border-radius: 0.5rem;
                     color: #5b6474; background: #fff; }
"""
_log = logging.getLogger("atoll.frontends")


class ManifestRpc(msgspec.Struct, frozen=True):
    """Where a service's components call it: its JSON-RPC endpoint, its methods' prefix there."""

    url: str
    prefix: str = ""


class ManifestComponent(msgspec.Struct, frozen=True):
    """A component of a manifest: its class's name, its element's tag, its observed props."""

    name: str
    tag: str
    observed: list[str] = msgspec.field(default_factory=list)


class Manifest(msgspec.Struct, frozen=True):
    """A service's manifest (``/ui/<service>/fragments.json``), as the shell reads it.

    Decoding into it checks what the shell relies on, so that a service answering something
    else at that address (another application on the port, an older atoll) is one service
    shown as unavailable, never a page that fails. A field it does not know is ignored.
    """

    version: str
    module: str
    rpc: ManifestRpc
    components: list[ManifestComponent]
    service: str = ""
    files: list[str] = msgspec.field(default_factory=list)
    reads: list[str] = msgspec.field(default_factory=list)
    paint: str = ""
    """Where the service paints its elements for a shell: none from an older service."""


class Paints(msgspec.Struct, frozen=True):
    """A service's answer to a request for paints: an element's HTML, or null, per slot."""

    paints: list[str | None]


def _checked(found: object) -> dict[str, Any]:
    """The manifest ``found``, checked against :class:`Manifest`, as the builtins it holds.

    Raises:
        msgspec.ValidationError: it is not one (a field missing, of the wrong type).
    """
    manifest = msgspec.convert(found, Manifest)
    checked: dict[str, Any] = msgspec.to_builtins(manifest)
    return checked


@dataclass(frozen=True)
class Slot:
    """A place of the shell: the element ``tag`` of ``service``, with ``attributes``."""

    service: str
    tag: str
    attributes: Mapping[str, object] = field(default_factory=dict)


class FragmentSource(Protocol):
    """Where the shell reads a service's manifest."""

    async def manifest(self) -> dict[str, Any] | None:
        """The service's manifest, its addresses as the page reaches them; None when down."""
        ...

    async def paint(self, slots: Sequence[Slot], manifest: dict[str, Any]) -> list[str | None]:
        """Each slot's element with its first paint, or None where it cannot be had.

        ``slots``: those of the service, whose ``manifest`` (as :meth:`manifest` gave it)
        names their tags. A failure is the caller's to catch: the elements are then shown
        without their first paint.
        """
        ...


class RemoteFragments:
    """The components of a service served elsewhere, at ``base`` (``http://10.0.0.7:8002``).

    ``base`` may be a coroutine function finding it each time (in a registry), returning None
    when no instance of the service is known.
    """

    def __init__(
        self,
        service: str,
        base: str | Callable[[], Awaitable[str | None]],
        client: httpx.AsyncClient,
    ) -> None:
        self.service = service
        self.base = base
        self.client = client

    async def manifest(self) -> dict[str, Any] | None:
        """The service's manifest, its addresses made absolute; None when it cannot be had.

        Whatever fails is this service's alone, so it is caught and said here, naming the
        service and why: the registry failing, no instance known, the address not answering
        or answering an error, an answer that is no manifest (not JSON, not an object, a
        field missing or of the wrong type, a module that is not a path of the service).
        """
        address = f"the manifest of {self.service}"
        try:
            base = self.base if isinstance(self.base, str) else await self.base()
            if base is None:
                _log.warning("the shell shows %s as unavailable: no instance of it", self.service)
                return None
            base = base.rstrip("/")
            address = f"{base}/ui/{self.service}/fragments.json"
            answer = await self.client.get(address, timeout=MANIFEST_TIMEOUT)
            answer.raise_for_status()
            found = msgspec.json.decode(answer.content, type=Manifest)
            if not _own_path(found.module) or not all(map(_own_path, found.files)):
                raise ValueError(  # noqa: TRY301 - caught below with the rest, said alike
                    f"its module {found.module!r} or a file is not a path of the service"
                )
        except Exception as error:  # noqa: BLE001 - any failure is this service's alone
            _log.warning(
                "the shell shows %s as unavailable: %s: %s: %s",
                self.service,
                address,
                type(error).__name__,
                error,
            )
            return None
        manifest = msgspec.to_builtins(found)
        manifest["module"] = base + found.module
        manifest["files"] = [base + name for name in found.files]
        manifest["paint"] = base + found.paint if _own_path(found.paint) else ""
        checked: dict[str, Any] = manifest
        return checked

    async def paint(self, slots: Sequence[Slot], manifest: dict[str, Any]) -> list[str | None]:
        """The first paints the service makes of ``slots``, asked at its ``paint`` address.

        None for each when it has no such address (an older service), or answers something
        else than an element of the slot's tag; its classes are in its own process.
        """
        address = manifest.get("paint") or ""
        if not address:
            return [None] * len(slots)
        marked = {"data_atoll_service": self.service}
        asked = {
            "slots": [
                {"tag": slot.tag, "attributes": {**slot.attributes, **marked}} for slot in slots
            ]
        }
        answer = await self.client.post(
            address,
            content=msgspec.json.encode(asked),
            headers={"content-type": "application/json"},
            timeout=MANIFEST_TIMEOUT,
        )
        answer.raise_for_status()
        painted = msgspec.json.decode(answer.content, type=Paints).paints
        if len(painted) != len(slots):
            raise ValueError(f"{address} answered {len(painted)} paints for {len(slots)} slots")
        return [
            each
            if each is not None
            and each.startswith(f"<{slot.tag} ")
            and each.endswith(f"</{slot.tag}>")
            else None
            for slot, each in zip(slots, painted, strict=True)
        ]


class Shell:
    """The ASGI application answering the shell page (GET and HEAD).

    Args:
        title: the page's title.
        slots: what the page shows, in order.
        sources: where each service's manifest is read, by service name.
        styles: CSS of the page's own, after the shell's.
        head: HTML of the page's own at the end of its head: the links to the web app
            manifest and the registration of the service worker, when the shell works
            offline (see :mod:`atoll.frontends.offline`).
    """

    def __init__(
        self,
        title: str,
        slots: Sequence[Slot],
        sources: Mapping[str, FragmentSource],
        *,
        styles: str = "",
        head: str = "",
    ) -> None:
        self.title = title
        self.slots = list(slots)
        self.sources = dict(sources)
        self.styles = styles
        self.head = head

    async def page(self) -> str:
        """The page, as the services' manifests are now, each element with its first paint."""
        page, _ = await self._composed()
        return page

    async def _composed(self) -> tuple[str, dict[str, dict[str, Any] | None]]:
        """The page as the services are now, and the manifests it was made of."""
        found = await self.manifests()
        return self.render(found, await self.paints(found)), found

    async def manifests(self) -> dict[str, dict[str, Any] | None]:
        """Each service's manifest as it is now, by name; None for a service found down.

        Each is checked against :class:`Manifest`; a source that fails, or gives something
        else, is its service shown unavailable (with a warning saying why), never the page's
        failure.
        """
        names = sorted({slot.service for slot in self.slots})
        found = await asyncio.gather(*(self._manifest(name) for name in names))
        return dict(zip(names, found, strict=True))

    async def _manifest(self, service: str) -> dict[str, Any] | None:
        try:
            found = await self.sources[service].manifest()
            return None if found is None else _checked(found)
        except Exception as error:  # noqa: BLE001 - one service's failure, not the page's
            _log.warning(
                "the shell shows %s as unavailable: its manifest could not be read: %s: %s",
                service,
                type(error).__name__,
                error,
            )
            return None

    async def paints(self, found: Mapping[str, dict[str, Any] | None]) -> dict[int, str]:
        """The first paint of each slot whose service could make it, by the slot's place.

        Each service is asked for its slots at once, all services together; one that fails
        has its elements shown without their first paint (the browser renders them), with a
        warning, and the others are painted.
        """
        asked: dict[str, list[int]] = {}
        for place, slot in enumerate(self.slots):
            manifest = found.get(slot.service)
            if manifest and slot.tag in {each["tag"] for each in manifest["components"]}:
                asked.setdefault(slot.service, []).append(place)

        async def of(service: str, places: list[int]) -> dict[int, str]:
            manifest = found[service]
            assert manifest is not None  # noqa: S101 - asked above for services found alone
            try:
                painted = await self.sources[service].paint(
                    [self.slots[place] for place in places], manifest
                )
            except Exception as error:  # noqa: BLE001 - one service's failure, not the page's
                _log.warning(
                    "the shell shows the elements of %s without their first paint: %s: %s",
                    service,
                    type(error).__name__,
                    error,
                )
                return {}
            return {
                place: each
                for place, each in zip(places, painted, strict=False)
                if each is not None
            }

        made: dict[int, str] = {}
        for each in await asyncio.gather(*(of(name, places) for name, places in asked.items())):
            made.update(each)
        return made

    def render(
        self,
        found: Mapping[str, dict[str, Any] | None],
        painted: Mapping[int, str] | None = None,
    ) -> str:
        """The page showing the services' manifests ``found``, with the first paints made."""
        painted = painted or {}
        manifests = {name: each for name, each in found.items() if each}
        imports = {}
        fragments = {}
        for name, manifest in manifests.items():
            directory = manifest["module"].rsplit("/", 1)[0] + "/"
            imports[f"@{name}/"] = directory
            fragments[name] = {
                "module": f"@{name}/" + manifest["module"].rsplit("/", 1)[1],
                "version": manifest["version"],
            }
        shown = "\n".join(
            self._slot(slot, manifests.get(slot.service), painted.get(place))
            for place, slot in enumerate(self.slots)
        )
        return (
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(self.title)}</title>\n"
            f'<script type="importmap">{script_json({"imports": imports})}</script>\n'
            f"<style>{_STYLES}{self.styles}</style>\n"
            '<script type="application/json" id="atoll-fragments">'
            f"{script_json(fragments)}</script>\n"
            f'<script type="module">\n{static("atoll-shell.js").decode()}</script>\n'
            f"{self.head}"
            f"</head>\n<body>\n<header><h1>{escape(self.title)}</h1></header>\n"
            f"<main>\n{shown}\n</main>\n</body>\n</html>\n"
        )

    def _slot(self, slot: Slot, manifest: dict[str, Any] | None, painted: str | None) -> str:
        tags = {each["tag"] for each in manifest["components"]} if manifest else set()
        if slot.tag not in tags:
            if manifest is not None:
                _log.warning("service %s ships no element %s", slot.service, slot.tag)
            return (
                f'<div class="atoll-placeholder" role="status" '
                f'data-atoll-service="{escape_attribute(slot.service)}">'
                f"{escape(slot.service)} is unavailable right now</div>"
            )
        if painted is not None:
            return painted
        written = "".join(
            f' {name.replace("_", "-")}="{escape_attribute(str(value))}"'
            for name, value in sorted(slot.attributes.items())
            if value is not None and value is not False
        )
        service = escape_attribute(slot.service)
        return f'<{slot.tag} data-atoll-service="{service}"{written}></{slot.tag}>'

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002 - a GET has no body to read
        """Answer a GET or HEAD with the page."""
        if await refused(scope, send):  # with the Allow header a 405 must carry
            return
        page, found = await self._composed()
        body = page.encode()
        headers = [(b"cache-control", b"no-cache"), *self.headers(body, found)]
        head = scope["method"] == "HEAD"
        await answer(send, 200, b"text/html; charset=utf-8", body, headers, head=head)

    def headers(
        self, page: bytes, found: Mapping[str, dict[str, Any] | None]
    ) -> list[tuple[bytes, bytes]]:
        """The security headers of ``page``, rendered from the manifests ``found``.

        Its Content-Security-Policy (see :func:`atoll.frontends.policy.page_policy`) lets it
        run its own inline scripts (by their hashes) and the modules of this origin and of
        the services' origins (their builds, which the import map names), and lets it reach
        this origin and theirs (their manifests and JSON-RPC endpoints), and no other; it
        serves its worker from this origin.
        """
        builds: set[str] = set()
        called: set[str] = set()
        for manifest in found.values():
            if manifest:
                module = manifest["module"]
                builds.add(_origin(module))
                # its components read the manifest beside the build, then call the endpoint
                called.add(_origin(urljoin(module, manifest["rpc"]["url"])))
        builds.discard("")
        called = (called | builds) - {""}
        return page_policy(page, scripts=sorted(builds), connect=sorted(called), worker=True)


def _own_path(address: str) -> bool:
    """Whether ``address`` is a path of the service's origin (``/ui/runs/...``)."""
    return address.startswith("/") and not address.startswith("//")


_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]+)?|\[[0-9A-Fa-f:.]+\](:[0-9]+)?")
"""A host and port a policy may name: the address of a manifest written by another service
could otherwise put a ``;`` and a directive of its own in the page's policy."""


def _origin(address: str) -> str:
    """The origin of ``address`` (``http://10.0.0.7:8002``); empty for a path of this one.

    Empty too for an address no policy can name (another scheme, a host with spaces or
    semicolons): what the page would load or call there is refused by the browser.
    """
    parts = urlsplit(address)
    if parts.scheme not in {"http", "https"} or not _HOST.fullmatch(parts.netloc):
        return ""
    return f"{parts.scheme}://{parts.netloc}"


_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def script_json(value: object) -> str:
    r"""``value`` as JSON inside a ``<script>``: no ``<``, ``>`` nor ``&`` is left in it.

    ``</`` alone is not enough: ``<!--<script>`` in a string makes the HTML parser read the
    rest of the page as the script's text. JSON writes each of the three in a string as its
    escape (``\u003c``), the same value, so the text holds none of them.
    """
    return msgspec.json.encode(value).decode().translate(_SCRIPT_SAFE)
