"""How atoll.kernel.container runs cleanups when a scope or the root closes, and when they fail."""

import pytest

from atoll.errors import ScopeError
from atoll.kernel.providers import Scope
from tests.kernel.container_doubles import (
    BlockError,
    Conn,
    conns,
    recording,
    recording_async,
    web_registry,
)


class StopNowError(BaseException):
    """Stands for KeyboardInterrupt or CancelledError without interrupting the test run."""


def serve(container, *names, raising=None):
    """One request that asks for the ``Conn`` of each name, in order, then raises ``raising``."""
    with container.scope() as scope:
        for name in names:
            scope.get(Conn, name)
        if raising is not None:
            raise raising


async def aserve(container, *names, raising=None):
    """One async request that asks for the ``Conn`` of each name, in order, then raises."""
    async with container.scope() as scope:
        for name in names:
            await scope.aget(Conn, name)
        if raising is not None:
            raise raising


def fail_inside(block, error):
    """Enter ``block`` with ``with`` and raise ``error`` inside it."""
    with block:
        raise error


async def afail_inside(block, error):
    """Enter ``block`` with ``async with`` and raise ``error`` inside it."""
    async with block:
        raise error


def test_cleanups_run_when_the_scope_closes_newest_first():
    events = []
    container = conns(events, "a", "b").build()

    with container.scope() as scope:
        scope.get(Conn, "b")
        scope.get(Conn, "a")
        events.append("request done")

    assert events == ["open b", "open a", "request done", "close a", "close b"]


async def test_async_cleanups_run_when_the_scope_closes_newest_first():
    events = []
    registry = conns(events, "a", make=recording_async)
    registry.provide(recording(events, "b"), name="b", scope=Scope.REQUEST)

    async with registry.build().scope() as scope:
        await scope.aget(Conn, "a")
        scope.get(Conn, "b")

    assert events == ["open a", "open b", "close b", "close a"]


def test_every_cleanup_runs_when_one_raises_and_the_error_is_raised_as_is():
    events = []
    error = ValueError("b broke")
    container = conns(events, "a", "b", "c", fails={"b": error}).build()

    with pytest.raises(ValueError, match="b broke") as caught:
        serve(container, "a", "b", "c")

    assert caught.value is error
    assert events[3:] == ["close c", "close b", "close a"]


def test_several_failing_cleanups_are_raised_together_as_an_exception_group():
    events = []
    first, second = ValueError("a broke"), KeyError("c broke")
    container = conns(events, "a", "b", "c", fails={"a": first, "c": second}).build()

    with pytest.raises(ExceptionGroup) as caught:
        serve(container, "a", "b", "c")

    assert str(caught.value) == "2 cleanups failed (2 sub-exceptions)"
    assert caught.value.exceptions == (second, first)
    assert events[3:] == ["close c", "close b", "close a"]


async def test_every_async_cleanup_runs_when_several_raise():
    events = []
    registry = conns(
        events,
        "a",
        "b",
        fails={"a": ValueError("a"), "b": ValueError("b")},
        make=recording_async,
    )

    with pytest.raises(ExceptionGroup, match="2 cleanups failed"):
        await aserve(registry.build(), "a", "b")

    assert events[2:] == ["close b", "close a"]


def test_an_interrupt_in_a_cleanup_lets_the_others_run_and_propagates_as_itself():
    events = []
    fails = {"b": StopNowError(), "c": ValueError("c broke")}
    container = conns(events, "a", "b", "c", fails=fails).build()

    with pytest.raises(StopNowError) as caught:
        serve(container, "a", "b", "c")

    assert events[3:] == ["close c", "close b", "close a"]
    assert caught.value.__notes__ == ["another cleanup also failed: ValueError('c broke')"]


def test_leaving_a_scope_by_an_error_keeps_it_and_notes_every_failed_cleanup():
    events = []
    first, second = ValueError("a broke"), KeyError("c broke")
    container = conns(events, "a", "b", "c", fails={"a": first, "c": second}).build()
    error = BlockError("handler failed")

    with pytest.raises(BlockError) as caught:
        serve(container, "a", "b", "c", raising=error)

    assert caught.value is error
    assert events[3:] == ["close c", "close b", "close a"]
    assert caught.value.__notes__ == [
        "a cleanup on leaving the block also failed: KeyError('c broke')",
        "a cleanup on leaving the block also failed: ValueError('a broke')",
    ]


async def test_leaving_an_async_scope_by_an_error_keeps_it_and_notes_the_failed_cleanup():
    events = []
    registry = conns(events, "a", "b", fails={"a": OSError("flush failed")}, make=recording_async)
    error = BlockError("handler failed")

    with pytest.raises(BlockError) as caught:
        await aserve(registry.build(), "a", "b", raising=error)

    assert caught.value is error
    assert events[2:] == ["close b", "close a"]
    assert caught.value.__notes__ == [
        "a cleanup on leaving the block also failed: OSError('flush failed')"
    ]


def test_leaving_the_root_by_an_error_keeps_it_and_notes_the_failed_cleanup():
    events = []
    container = conns(events, "a", "b", scope=Scope.APP, fails={"b": OSError("b")}).build()
    error = BlockError("serving failed")

    with pytest.raises(BlockError) as caught:
        fail_inside(container, error)

    assert caught.value is error
    assert events == ["open a", "open b", "close b", "close a"]
    assert caught.value.__notes__ == ["a cleanup on leaving the block also failed: OSError('b')"]
    assert container.instances() == {}


async def test_leaving_the_async_root_by_an_error_keeps_it_and_notes_the_failed_cleanup():
    events = []
    registry = conns(events, "a", scope=Scope.APP, fails={"a": OSError("a")})
    registry.provide(recording_async(events, "b", fail=OSError("b")), name="b")
    error = BlockError("serving failed")

    with pytest.raises(BlockError) as caught:
        await afail_inside(registry.build(), error)

    assert caught.value is error
    assert events == ["open a", "open b", "close b", "close a"]
    assert caught.value.__notes__ == [
        "a cleanup on leaving the block also failed: OSError('b')",
        "a cleanup on leaving the block also failed: OSError('a')",
    ]


def test_leaving_a_scope_by_an_error_without_failed_cleanups_adds_no_note():
    events = []
    container = conns(events, "a").build()

    with pytest.raises(BlockError) as caught:
        serve(container, "a", raising=BlockError())

    assert not hasattr(caught.value, "__notes__")
    assert events == ["open a", "close a"]


def test_an_interrupted_cleanup_on_leaving_by_an_error_still_propagates_as_itself():
    events = []
    container = conns(events, "a", "b", fails={"b": StopNowError()}).build()
    error = BlockError("handler failed")

    with pytest.raises(StopNowError) as caught:
        serve(container, "a", "b", raising=error)

    assert caught.value.__context__ is error
    assert events[2:] == ["close b", "close a"]


async def test_leaving_by_an_error_a_scope_with_async_cleanups_by_with_notes_scope_error():
    events = []
    container = conns(events, "a", make=recording_async).build()
    error = BlockError("handler failed")
    scope = container.scope()
    await scope.aget(Conn, "a")

    with pytest.raises(BlockError) as caught:
        fail_inside(scope, error)

    assert caught.value.__notes__ == [
        (
            "a cleanup on leaving the block also failed: ScopeError('this container holds "
            "instances with async cleanups (a); close it with `async with` or `await "
            "container.aclose()`')"
        )
    ]
    await scope.aclose()
    assert events == ["open a", "close a"]


async def test_closing_a_scope_with_async_cleanups_synchronously_names_async_with():
    events = []
    container = conns(events, "a", make=recording_async).build()
    scope = container.scope()
    await scope.aget(Conn, "a")

    with pytest.raises(ScopeError) as caught:
        scope.close()

    assert str(caught.value) == (
        "this container holds instances with async cleanups (a); close it with `async with` "
        "or `await container.aclose()`"
    )
    await scope.aclose()
    assert events == ["open a", "close a"]


async def test_leaving_a_scope_with_async_cleanups_by_with_raises_scope_error():
    events = []
    container = conns(events, "a", make=recording_async).build()

    scope = container.scope()
    scope.__enter__()
    await scope.aget(Conn, "a")

    with pytest.raises(ScopeError, match="`async with`"):
        scope.__exit__(None, None, None)

    await scope.aclose()
    assert events == ["open a", "close a"]


def test_app_scoped_cleanups_run_when_the_root_closes_not_the_scope_that_made_them():
    events = []
    container = conns(events, "pool", scope=Scope.APP).build()

    with container.scope() as scope:
        scope.get(Conn, "pool")
    assert events == ["open pool"]

    container.close()
    assert events == ["open pool", "close pool"]


def test_closing_a_scope_without_cleanups_does_nothing():
    scope = web_registry().build().scope()

    scope.close()

    assert scope._cleanups is None
