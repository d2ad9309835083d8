import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from atoll.endpoints.http.mount import Mount
from atoll.errors import ConfigError


def scope(path, root_path=""):
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}


class Recorder:
    def __init__(self):
        self.messages = []

    async def __call__(self, message):
        self.messages.append(message)


class Spy:
    """An ASGI app that remembers the scope it was called with."""

    def __init__(self):
        self.scope = None

    async def __call__(self, scope, receive, send):
        self.scope = scope


async def fetch(mount, path, root_path=""):
    send = Recorder()
    await mount(scope(path, root_path), receive, send)
    start, body = send.messages
    return start["status"], body["body"]


@pytest.mark.parametrize(
    ("path", "matches"),
    [
        ("/legacy", True),
        ("/legacy/", True),
        ("/legacy/x/y", True),
        ("/legacyx", False),
        ("/legac", False),
        ("/other/legacy", False),
    ],
)
def test_a_mount_matches_its_prefix_as_whole_segments(path, matches):
    assert Mount("/legacy", Spy()).matches(path) is matches


def test_a_prefix_of_several_segments_matches_below_it():
    mount = Mount("/api/v1", Spy())
    assert mount.matches("/api/v1/runs")
    assert not mount.matches("/api/v10")


@pytest.mark.parametrize("prefix", ["legacy", "/legacy/", "/", "", "/a//b"])
def test_a_prefix_not_made_of_whole_segments_is_a_config_error(prefix):
    with pytest.raises(ConfigError, match="is not a path of whole segments; write it like"):
        Mount(prefix, Spy())


async def test_the_mounted_app_gets_root_path_extended_and_path_whole():
    spy = Spy()
    await Mount("/legacy", spy)(scope("/legacy/users"), receive, Recorder())
    assert spy.scope["root_path"] == "/legacy"
    assert spy.scope["path"] == "/legacy/users"


async def test_a_mount_below_a_root_path_extends_it():
    spy = Spy()
    await Mount("/legacy", spy)(scope("/api/legacy/users", "/api"), receive, Recorder())
    assert spy.scope["root_path"] == "/api/legacy"
    assert spy.scope["path"] == "/api/legacy/users"


async def test_the_parent_scope_is_left_unchanged():
    spy = Spy()
    parent = scope("/legacy/users")
    await Mount("/legacy", spy)(parent, receive, Recorder())
    assert parent["root_path"] == ""
    assert spy.scope is not parent


def starlette_app():
    async def users(request):
        return PlainTextResponse(f"users at {request.url.path}")

    async def nested(request):
        return PlainTextResponse("nested")

    async def home(request):
        return PlainTextResponse("home")

    return Starlette(routes=[Route("/", home), Route("/users", users), Route("/legacy/x", nested)])


async def test_a_mounted_starlette_app_routes_below_the_prefix():
    mount = Mount("/legacy", starlette_app())
    assert await fetch(mount, "/legacy/users") == (200, b"users at /legacy/users")
    assert await fetch(mount, "/legacy/") == (200, b"home")


async def test_a_mounted_starlette_app_routes_a_path_that_repeats_the_prefix():
    assert await fetch(Mount("/legacy", starlette_app()), "/legacy/legacy/x") == (200, b"nested")


async def test_a_mounted_starlette_app_routes_below_a_root_path():
    mount = Mount("/legacy", starlette_app())
    assert await fetch(mount, "/api/legacy/users", "/api") == (200, b"users at /api/legacy/users")


def test_mount_repr_names_prefix_and_app():
    assert repr(Mount("/legacy", "app")) == "Mount('/legacy', 'app')"
