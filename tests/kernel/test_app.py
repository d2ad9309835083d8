from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass

import pytest

import atoll
from atoll.errors import ConfigError, ProviderError, TargetError
from atoll.kernel.app import App, LogOptions, LoopOptions, ShutdownOptions, as_app


@dataclass(frozen=True)
class DbOptions:
    url: str = atoll.option("sqlite://", help="database URL")


def test_name_must_be_lower_case_and_says_why():
    with pytest.raises(ConfigError, match="application name 'Runs' is not valid: use lower-case"):
        App("Runs")


def test_env_prefix_defaults_to_the_upper_cased_name():
    assert App("run-log").env_prefix == "RUN_LOG"
    assert App("runs", env_prefix="RN").env_prefix == "RN"


def test_every_app_has_the_kernel_sections():
    assert App("runs").sections == [
        ("shutdown", ShutdownOptions),
        ("log", LogOptions),
        ("loop", LoopOptions),
    ]


def test_the_loop_is_uvloop_s_when_installed_unless_asyncio_is_asked_for():
    uvloop = pytest.importorskip("uvloop")
    assert LoopOptions().factory() is uvloop.new_event_loop
    assert LoopOptions("uvloop").factory() is uvloop.new_event_loop
    assert LoopOptions("asyncio").factory() is None


def test_auto_falls_back_to_asyncio_without_uvloop(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    assert LoopOptions().factory() is None


def test_uvloop_asked_for_but_missing_says_what_to_do(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match="uvloop is not installed: install it"):
        LoopOptions("uvloop")


def test_options_add_a_section_in_order():
    app = App("runs")
    assert app.options("db", DbOptions) is DbOptions
    assert app.sections[-1] == ("db", DbOptions)


def test_a_section_name_is_taken_once():
    app = App("runs")
    app.options("db", DbOptions)
    with pytest.raises(ConfigError, match="section 'db' is already declared by DbOptions"):
        app.options("db", DbOptions)


def test_provide_and_value_register_in_the_registry():
    app = App("runs")

    class Engine:
        pass

    assert app.provide(Engine) is Engine
    app.value(DbOptions(), name="primary")
    assert Engine in app.registry
    assert (DbOptions, "primary") in app.registry


class Clock:
    pass


def test_provide_works_as_a_decorator_with_arguments():
    app = App("runs")

    @app.provide(scope=atoll.Scope.TRANSIENT)
    def clock() -> Clock:
        return Clock()

    assert Clock in app.registry


def test_tasks_are_named_after_the_function_or_given_a_name():
    app = App("runs")

    @app.task
    async def relay() -> None:
        pass

    @app.task(name="sweeper")
    async def sweep() -> None:
        pass

    assert [(t.name, t.function) for t in app.tasks] == [("relay", relay), ("sweeper", sweep)]


def test_as_app_accepts_an_app_an_app_like_and_a_factory():
    app = App("runs")

    class Service:
        def __atoll_app__(self) -> App:
            return app

    assert as_app(app) is app
    assert as_app(Service()) is app

    def factory() -> Service:
        return Service()

    assert as_app(factory) is app


def test_as_app_refuses_anything_else_and_says_what_it_got():
    with pytest.raises(TargetError, match="the target is int 3, not an application"):
        as_app(3)
    with pytest.raises(TargetError, match="what the target returned is str 'x'"):
        as_app(lambda: "x")
    with pytest.raises(TargetError, match="the target is the class App, not an application"):
        as_app(App)


def test_repr_names_the_app():
    assert repr(App("runs", version="1.2")) == "App('runs', version='1.2')"


def test_an_app_hands_over_itself():
    app = App("runs")
    assert app.__atoll_app__() is app


def test_a_task_must_be_an_async_function():
    app = App("runs")

    def blocking() -> None:
        pass

    with pytest.raises(
        ProviderError, match=r"background task 'blocking' .* is not an async function"
    ):
        app.task(blocking)


def test_a_provider_given_when_waits_for_the_configuration_to_be_registered():
    app = App("runs")

    @app.provide(when=lambda config: config.section("db").url != "", name="wall")
    def clock() -> Clock:
        return Clock()

    assert (Clock, "wall") not in app.registry
    [conditional] = app.conditional_providers
    assert conditional.key == (Clock, "wall")
    assert conditional.factory is clock
    assert (Clock, "wall") in conditional.registry()


def test_a_provider_given_when_is_refused_at_once_when_it_cannot_be_registered():
    app = App("runs")

    def clock():  # no return type: nothing says what it provides
        return Clock()

    with pytest.raises(ProviderError):
        app.provide(clock, when=lambda config: True)
    assert app.conditional_providers == []
