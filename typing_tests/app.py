# An application declared through the public surface, as a service's code would declare it.
# Type-checked by mypy --strict, never run. Each `type: ignore[code]` marks a line mypy must
# reject: with warn_unused_ignores (part of --strict), mypy fails if the error goes away.
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import assert_type

import atoll


@dataclass(frozen=True)
class Greeting:
    text: str = atoll.option("hello", help="what to say")
    every: float = atoll.option(1.0, help="seconds between greetings")
    shout: bool = atoll.option(default=False)
    log: Path | None = atoll.option(None, help="where to write what was said")
    names: list[str] = atoll.option(default_factory=list, help="whom to greet")
    token: atoll.Secret = atoll.option(help="the API token")  # required: no default


@dataclass(frozen=True)
class WrongGreeting:
    every: float = atoll.option("1.0")  # type: ignore[assignment]
    names: list[str] = atoll.option(default_factory=dict)  # type: ignore[arg-type]


class Printer:
    def __init__(self, greeting: Greeting) -> None:
        self.greeting = greeting


class Outbox:
    def __init__(self, sender: str = "") -> None:
        self.sender = sender


app = atoll.App("greeter", version="1.0.0", description="Greets.", env_prefix="GREETER")
assert_type(app, atoll.App)
atoll.App("greeter", "1.0.0")  # type: ignore[call-arg]

# options() hands back the class itself, so it can be registered where it is declared.
assert_type(app.options("greeting", Greeting), type[Greeting])
wrong_options: Greeting = app.options("wrong", Greeting)  # type: ignore[assignment]


# provide() keeps what it is given: a class, a plain function, or (as a decorator, with or
# without options) a generator function.
assert_type(app.provide(Printer), type[Printer])


@app.provide
def make_outbox(greeting: Greeting) -> Outbox:
    return Outbox(greeting.text)


@app.provide(scope=atoll.Scope.REQUEST, name="audit")
def open_outbox() -> Iterator[Outbox]:
    yield Outbox()


# when= takes a condition on the resolved configuration, and keeps what it is given too.
assert_type(app.provide(Outbox, when=lambda config: config.section("greeting").shout), type[Outbox])
app.provide(Outbox, when=True)  # type: ignore[call-overload]


@app.provide(when=lambda config: config.section("greeting").shout, name="spare")
def spare_outbox() -> Outbox:
    return Outbox()


assert_type(spare_outbox, Callable[[], Outbox])


# Calling by keyword type-checks only if the parameters kept their names.
assert_type(make_outbox(greeting=Greeting(token=atoll.Secret("t"))), Outbox)
assert_type(open_outbox, Callable[[], Iterator[Outbox]])
make_outbox(Outbox())  # type: ignore[arg-type]


# task() keeps the function's own type, with or without a name; it takes async functions only.
@app.task
async def greet(greeting: Greeting, printer: Printer) -> None: ...


@app.task(name="relay")
async def relay_outbox(outbox: Outbox) -> None: ...


async def call_tasks(greeting: Greeting, printer: Printer, outbox: Outbox) -> None:
    assert_type(await greet(greeting=greeting, printer=printer), None)
    assert_type(await relay_outbox(outbox=outbox), None)
    await greet(printer, greeting)  # type: ignore[arg-type]


@app.task  # type: ignore[type-var]
def blocking(outbox: Outbox) -> None: ...


app.task(name=3)  # type: ignore[call-overload]


# main() never returns: code after it is unreachable, and a function declared to return an
# int may end with it.
def run() -> int:
    atoll.main(app)


def run_with_argv() -> int:
    atoll.main(app, ["--greeting-every", "0.5"])
    return 0  # type: ignore[unreachable]
