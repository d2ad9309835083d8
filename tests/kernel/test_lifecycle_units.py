"""What atoll.kernel.lifecycle accepts: units, their needs, task names, grace; its states."""

import math
import re

import pytest

from atoll.errors import LifecycleError
from atoll.kernel.lifecycle import Lifecycle, State, Unit
from tests.kernel.lifecycle_doubles import (
    Part,
    stopper,
    unit,
)


def test_a_unit_refuses_an_object_that_is_not_a_component():
    with pytest.raises(LifecycleError, match=r"unit 'db' was given object .* not a component"):
        Unit("db", object())


def test_a_unit_refuses_a_string_for_needs():
    with pytest.raises(LifecycleError, match=r"needs='db', a string.*frozenset\(\{'db'\}\)"):
        Unit("server", Part("server", []), needs="db")


def test_a_unit_keeps_its_needs_as_a_frozenset():
    assert Unit("server", Part("server", []), needs={"db"}).needs == frozenset({"db"})
    assert type(Unit("server", Part("server", []), needs=["db"]).needs) is frozenset


async def test_start_refuses_two_units_with_the_same_name():
    lifecycle = Lifecycle("app")
    units = [unit(Part("db", [])), unit(Part("db", []))]
    with pytest.raises(LifecycleError, match="more than one unit named 'db'"):
        await lifecycle.start(units)
    assert lifecycle.state is State.CREATED


async def test_start_refuses_a_need_that_names_no_unit():
    lifecycle = Lifecycle("app")
    units = [unit(Part("db", [])), unit(Part("server", []), "dbb")]
    message = "unit 'server' needs 'dbb', but there is no such unit among 'db', 'server'"
    with pytest.raises(LifecycleError, match=re.escape(message)):
        await lifecycle.start(units)


async def test_start_refuses_units_that_need_each_other_in_a_cycle():
    journal = []
    units = [
        unit(Part("a", journal), "c"),
        unit(Part("b", journal), "a"),
        unit(Part("c", journal), "b"),
        unit(Part("d", journal), "a"),
        unit(Part("e", journal)),
    ]
    with pytest.raises(LifecycleError, match="found 'a' -> 'c' -> 'b' -> 'a': remove one"):
        await Lifecycle("app").start(units)
    assert journal == []


async def test_start_refuses_a_unit_that_needs_itself():
    with pytest.raises(LifecycleError, match="found 'a' -> 'a'"):
        await Lifecycle("app").start([unit(Part("a", []), "a")])


async def test_start_refuses_two_background_tasks_with_the_same_name():
    lifecycle = Lifecycle("app")
    with pytest.raises(LifecycleError, match="more than one background task named 'stopper'"):
        await lifecycle.start([], [stopper(lifecycle), stopper(lifecycle)])
    assert lifecycle.state is State.CREATED


@pytest.mark.parametrize("grace", [-1.0, math.inf, math.nan])
def test_grace_must_be_a_finite_number_of_seconds(grace):
    with pytest.raises(LifecycleError, match="grace must be a finite number of seconds"):
        Lifecycle("app", grace=grace)


async def test_a_lifecycle_starts_only_once():
    lifecycle = Lifecycle("app")
    async with lifecycle.running([]):
        pass
    with pytest.raises(LifecycleError, match="'app' is stopped: a lifecycle starts only once"):
        await lifecycle.start([])


def test_states_are_lower_case_strings_in_life_order():
    assert list(State) == ["created", "starting", "ready", "stopping", "stopped"]


def test_repr_names_the_lifecycle_and_its_state():
    assert repr(Lifecycle("app")) == "<Lifecycle 'app' created>"
