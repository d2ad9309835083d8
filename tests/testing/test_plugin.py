from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def project(pytester):
    """A project's test directory, configured as a user's would be: pytest-asyncio in auto mode."""
    pytester.makeini(
        """
        [pytest]
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        """
    )
    return pytester


def test_the_plugin_is_declared_as_the_pytest11_entry_point_atoll():
    (entry,) = importlib.metadata.entry_points(group="pytest11", name="atoll")
    assert entry.value == "atoll.testing.plugin"


def test_the_atoll_harness_fixture_runs_a_service(project):
    project.makepyfile(
        textwrap.dedent(
            """
            from dataclasses import dataclass

            import atoll


            @dataclass(frozen=True)
            class Greet:
                name: str


            @dataclass(frozen=True)
            class Greeted:
                name: str


            service = atoll.Service("greeter")


            @service.command(Greet)
            async def greet(cmd: Greet, events: atoll.Events) -> str:
                events.add(Greeted(cmd.name))
                return f"hello {cmd.name}"


            async def test_greet(atoll_harness):
                async with atoll_harness(service) as harness:
                    assert await harness.send(Greet("ada")) == "hello ada"
                    assert harness.events == [Greeted("ada")]
            """
        )
    )
    result = project.runpytest()
    result.assert_outcomes(passed=1)


def test_the_asgi_client_fixture_runs_an_asgi_app(project):
    project.makepyfile(
        textwrap.dedent(
            """
            seen = []


            async def app(scope, receive, send):
                if scope["type"] == "lifespan":
                    seen.append((await receive())["type"])
                    await send({"type": "lifespan.startup.complete"})
                    seen.append((await receive())["type"])
                    await send({"type": "lifespan.shutdown.complete"})
                    return
                await send({"type": "http.response.start", "status": 204, "headers": []})
                await send({"type": "http.response.body", "body": b""})


            async def test_app(asgi_client):
                async with asgi_client(app) as client:
                    assert (await client.get("/")).status_code == 204
                assert seen == ["lifespan.startup", "lifespan.shutdown"]
            """
        )
    )
    result = project.runpytest()
    result.assert_outcomes(passed=1)


def test_the_fixtures_are_listed_with_their_help(project):
    result = project.runpytest("--fixtures")
    result.stdout.fnmatch_lines(
        [
            "*atoll_harness*",
            "*A factory running a service for a block*",
            "*asgi_client*",
            "*A factory of httpx clients on ASGI apps*",
        ]
    )


def test_the_fixtures_give_the_public_factories(project):
    project.makepyfile(
        textwrap.dedent(
            """
            import atoll.testing


            def test_factories(atoll_harness, asgi_client):
                assert atoll_harness is atoll.testing.run
                assert asgi_client is atoll.testing.asgi_client
            """
        )
    )
    result = project.runpytest()
    result.assert_outcomes(passed=1)


def test_loading_the_plugin_imports_neither_the_harness_nor_httpx():
    code = (
        "import sys, atoll.testing.plugin\n"
        "print(sorted(m for m in ('atoll.testing.harness', 'atoll.testing.client', 'httpx', "
        "'atoll.service.composition') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"
