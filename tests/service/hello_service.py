"""A small service that tests/service/test_serving.py runs as a real process.

``atoll run hello_service:service`` serves it with atoll's own server; ``uvicorn
hello_service:app --lifespan on`` serves ``service.asgi()``. The component prints when it starts
and stops, so that the tests see the lifecycle run it whichever server is in charge.
"""

from __future__ import annotations

from dataclasses import dataclass

import atoll


@dataclass(frozen=True)
class Greet:
    name: str


class Greeter:
    """A component counting greetings; it says when it starts and stops."""

    def __init__(self) -> None:
        self.greeted = 0

    async def start(self) -> None:
        print("greeter started", flush=True)

    async def stop(self) -> None:
        print("greeter stopped", flush=True)


service = atoll.Service("hello", version="1.0")
service.provide(Greeter)


@service.command(Greet)
async def greet(cmd: Greet, greeter: Greeter) -> str:
    greeter.greeted += 1
    return f"hello {cmd.name}"


@service.get("/hello/{name}")
async def hello(name: str, greeter: Greeter) -> dict[str, object]:
    return {"greeting": f"hello {name}", "greeted": greeter.greeted}


app = service.asgi()
