"""Dependency injection per request: atoll against rodi, dishka, wireup and svcs, in one run.

One request = open a scope, resolve a request-scoped ``Service`` whose three dependencies are
one app-scoped, one request-scoped and one transient, close the scope. Each library is set up
the way its documentation shows; svcs wires no dependencies by itself, so its ``Service``
factory asks its container for each one (its documented style). A hand-written function that
makes the same objects with no container gives the floor.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_di.py [--rounds N]``.
Prints microseconds per request (the best of several rounds, each timing many requests) and
the ratio to atoll.
"""

from __future__ import annotations

import argparse
import gc
import timeit
from typing import TYPE_CHECKING

import dishka
import rodi
import svcs
import wireup

import atoll
from atoll import Scope

if TYPE_CHECKING:
    from collections.abc import Callable


class Settings:
    """App-scoped."""


class Session:
    """Request-scoped."""


class Clock:
    """Transient."""


class Service:
    """Request-scoped, with one dependency of each scope."""

    def __init__(self, settings: Settings, session: Session, clock: Clock) -> None:
        self.settings = settings
        self.session = session
        self.clock = clock


def hand_written() -> Callable[[], object]:
    settings = Settings()

    def request() -> object:
        return Service(settings, Session(), Clock())

    return request


def atoll_request() -> Callable[[], object]:
    registry = atoll.Registry()
    registry.provide(Settings, scope=Scope.APP)
    registry.provide(Session, scope=Scope.REQUEST)
    registry.provide(Clock, scope=Scope.TRANSIENT)
    registry.provide(Service, scope=Scope.REQUEST)
    container = registry.build()
    container.__enter__()

    def request() -> object:
        with container.scope() as scope:
            return scope.get(Service)

    return request


def rodi_request() -> Callable[[], object]:
    container = rodi.Container()
    container.add_singleton(Settings)
    container.add_scoped(Session)
    container.add_transient(Clock)
    container.add_scoped(Service)
    provider = container.build_provider()

    def request() -> object:
        with provider.create_scope() as scope:
            return provider.get(Service, scope)

    return request


def dishka_request() -> Callable[[], object]:
    provider = dishka.Provider()
    provider.provide(Settings, scope=dishka.Scope.APP)
    provider.provide(Session, scope=dishka.Scope.REQUEST)
    provider.provide(Clock, scope=dishka.Scope.REQUEST, cache=False)
    provider.provide(Service, scope=dishka.Scope.REQUEST)
    container = dishka.make_container(provider)

    def request() -> object:
        with container() as scope:
            return scope.get(Service)

    return request


def wireup_request() -> Callable[[], object]:
    container = wireup.create_sync_container(
        injectables=[
            wireup.injectable(Settings, lifetime="singleton"),
            wireup.injectable(Session, lifetime="scoped"),
            wireup.injectable(Clock, lifetime="transient"),
            wireup.injectable(Service, lifetime="scoped"),
        ]
    )

    def request() -> object:
        with container.enter_scope() as scope:
            return scope.get(Service)

    return request


def svcs_request() -> Callable[[], object]:
    registry = svcs.Registry()
    registry.register_value(Settings, Settings())
    registry.register_factory(Session, Session)

    def service(container: svcs.Container) -> Service:
        return Service(container.get(Settings), container.get(Session), Clock())

    registry.register_factory(Service, service)

    def request() -> object:
        with svcs.Container(registry) as container:
            return container.get(Service)

    return request


CONTENDERS: dict[str, Callable[[], Callable[[], object]]] = {
    "hand-written (floor)": hand_written,
    "atoll": atoll_request,
    "rodi": rodi_request,
    "dishka": dishka_request,
    "wireup": wireup_request,
    "svcs": svcs_request,
}


def check(request: Callable[[], object]) -> None:
    """Every contender must really build the graph: a Service with three fresh parts."""
    first, second = request(), request()
    assert isinstance(first, Service), first  # noqa: S101 - a benchmark that checks its subject
    assert isinstance(second, Service), second  # noqa: S101
    assert first.settings is second.settings, "app-scoped must be shared"  # noqa: S101
    assert first.session is not second.session, "request-scoped must be per request"  # noqa: S101
    assert first.clock is not second.clock, "transient must be new"  # noqa: S101


def measure(request: Callable[[], object], rounds: int, number: int) -> float:
    """Best microseconds per request over ``rounds`` rounds of ``number`` requests."""
    gc.collect()
    return min(timeit.repeat(request, number=number, repeat=rounds)) / number * 1e6


def main() -> None:
    """Measure every contender in one process, interleaved round by round, and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=100_000)
    args = parser.parse_args()
    requests = {name: make() for name, make in CONTENDERS.items()}
    for request in requests.values():
        check(request)
    best = dict.fromkeys(requests, float("inf"))
    for _ in range(args.rounds):  # interleave, so a noisy moment hurts every contender alike
        for name, request in requests.items():
            best[name] = min(best[name], measure(request, 1, args.number))
    ours = best["atoll"]
    print("DI per request: open scope, resolve Service(app, request, transient), close scope")
    print(f"{'container':<22}{'us/request':>12}{'vs atoll':>10}")
    for name, micros in sorted(best.items(), key=lambda item: item[1]):
        print(f"{name:<22}{micros:>12.3f}{micros / ours:>9.2f}x")


if __name__ == "__main__":
    main()
