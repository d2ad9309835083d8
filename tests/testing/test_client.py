from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import atoll
import atoll.testing
from atoll.errors import LifecycleError
from atoll.testing.client import asgi_client


async def answer(send, text: bytes = b"ok", status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": text})


class Recorder:
    """A raw ASGI app that answers its lifespan as told, and says what it saw."""

    def __init__(self, startup="complete", shutdown="complete", message=None):
        self.startup = startup
        self.shutdown = shutdown
        self.message = message
        self.seen: list[str] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.seen.append(f"request {scope['path']}")
            await answer(send)
            return
        for phase, outcome in (("startup", self.startup), ("shutdown", self.shutdown)):
            message = await receive()
            self.seen.append(message["type"])
            if outcome == "raise":
                raise RuntimeError(f"the {phase} broke")
            reply = {"type": f"lifespan.{phase}.{outcome}"}
            if self.message is not None:
                reply["message"] = self.message
            await send(reply)
            if outcome != "complete":
                return


async def test_the_lifespan_starts_before_the_block_and_shuts_down_after():
    app = Recorder()
    async with asgi_client(app) as client:
        assert app.seen == ["lifespan.startup"]
        assert (await client.get("/runs")).text == "ok"
    assert app.seen == ["lifespan.startup", "request /runs", "lifespan.shutdown"]


async def test_requests_go_to_the_test_server_base_url():
    async with asgi_client(Recorder()) as client:
        response = await client.get("/runs")
    assert str(response.request.url) == "http://testserver/runs"


async def test_a_failed_startup_raises_with_the_apps_message():
    app = Recorder(startup="failed", message="no database")
    with pytest.raises(LifecycleError, match="failed its lifespan startup: no database"):
        async with asgi_client(app):
            pass
    assert app.seen == ["lifespan.startup"]


async def test_a_failed_startup_without_a_message_says_so():
    with pytest.raises(LifecycleError, match="startup: no message given"):
        async with asgi_client(Recorder(startup="failed")):
            pass


async def test_an_exception_in_the_startup_is_raised_as_it_is():
    with pytest.raises(RuntimeError, match="the startup broke") as raised:
        async with asgi_client(Recorder(startup="raise")):
            pass
    assert "during its lifespan startup" in raised.value.__notes__[0]


async def test_a_failed_shutdown_raises_on_leaving():
    app = Recorder(shutdown="failed", message="the pool hung")
    with pytest.raises(LifecycleError, match="failed its lifespan shutdown: the pool hung"):
        async with asgi_client(app):
            pass


async def test_an_exception_in_the_shutdown_is_raised_on_leaving():
    with pytest.raises(RuntimeError, match="the shutdown broke"):
        async with asgi_client(Recorder(shutdown="raise")):
            pass


async def test_the_lifespan_shuts_down_when_the_block_raises():
    app = Recorder()
    with pytest.raises(KeyError):
        async with asgi_client(app):
            raise KeyError("a test failed")
    assert app.seen[-1] == "lifespan.shutdown"


async def test_the_blocks_error_wins_over_a_failed_shutdown():
    app = Recorder(shutdown="failed", message="the pool hung")
    with pytest.raises(KeyError) as raised:
        async with asgi_client(app):
            raise KeyError("a test failed")
    (note,) = raised.value.__notes__
    assert note.startswith("the app's lifespan shutdown also failed: LifecycleError(")
    assert note.endswith("failed its lifespan shutdown: the pool hung')")


async def test_an_unexpected_answer_is_an_error():
    app = Recorder(startup="done")
    with pytest.raises(
        LifecycleError, match=r"answered lifespan.startup with 'lifespan.startup.done'"
    ):
        async with asgi_client(app):
            pass


async def test_an_app_without_lifespan_is_served_all_the_same():
    seen: list[str] = []

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return  # the specification lets an app ignore lifespans
        seen.append(scope["path"])
        await answer(send)

    async with asgi_client(app) as client:
        assert (await client.get("/plain")).text == "ok"
    assert seen == ["/plain"]


async def test_an_app_that_returns_during_shutdown_is_done():
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            return  # stops without a word: nothing failed

    async with asgi_client(app):
        pass


async def test_an_app_that_goes_on_after_its_shutdown_is_cancelled():
    cancelled = asyncio.Event()

    async def app(scope, receive, send):
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with asgi_client(app):
        pass
    assert cancelled.is_set()


async def test_an_app_exception_while_serving_is_raised_by_default():
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        async with asgi_client(app) as client:
            await client.get("/")


async def test_an_app_exception_can_be_a_500_instead():
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return
        raise ZeroDivisionError

    async with asgi_client(app, raise_app_exceptions=False) as client:
        assert (await client.get("/")).status_code == 500


async def test_the_lifespan_state_reaches_each_request_of_a_starlette_app():
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield {"pool": "the pool"}

    async def home(request: Request) -> JSONResponse:
        return JSONResponse({"pool": request.state.pool})

    app = Starlette(routes=[Route("/", home)], lifespan=lifespan)
    async with asgi_client(app) as client:
        assert (await client.get("/")).json() == {"pool": "the pool"}


@dataclass(frozen=True)
class Greet:
    name: str


greeter = atoll.Service("greeter")


@greeter.command(Greet)
async def greet(cmd: Greet) -> str:
    return f"hello {cmd.name}"


async def test_a_services_asgi_app_is_started_by_its_lifespan():
    async with atoll.testing.asgi_client(greeter.asgi()) as client:
        response = await client.post("/greet", json={"name": "ada"})
    assert response.json() == "hello ada"
