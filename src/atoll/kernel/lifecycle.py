"""The lifecycle: start an application's components in dependency order, and stop them.

A component has ``async def start()`` and ``async def stop()``, and may have ``def kill()``
for when a graceful stop takes too long. Whoever builds the application names each component
and what it needs in a :class:`Unit`; the lifecycle derives the order from those needs::

    lifecycle = Lifecycle("runs", grace=10.0)
    units = [Unit("db", db), Unit("server", server, needs=frozenset({"db"}))]
    code = await lifecycle.run(units, [BackgroundTask("relay", relay.run)])

Start: each unit starts as soon as every unit it needs has started, so independent units start
side by side; then the background tasks start, and the application is ready. Stop, on a
signal or :meth:`Lifecycle.request_stop`: the application is no longer ready; on SIGTERM, it
goes on serving for the drain period, so that a load balancer reading its readiness sends the
traffic elsewhere before the listener closes; then new work is refused, the work in flight
finishes, the tasks are cancelled, and each unit stops once every unit that needs it has
stopped; all of it within one grace period, after which whatever has not stopped is killed.
``docs/explanation/lifecycle.md`` tells the whole story.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import graphlib
import inspect
import logging
import math
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Self, cast, runtime_checkable

from atoll.errors import LifecycleError, TaskFailedError
from atoll.kernel.inflight import InFlight

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator

__all__ = [
    "BackgroundTask",
    "Component",
    "Killable",
    "Lifecycle",
    "State",
    "Unit",
    "is_component",
]

logger = logging.getLogger("atoll.lifecycle")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class State(enum.StrEnum):
    """Where the application is in its life; it only ever moves down this list.

    ``READY`` is skipped when a start fails or is interrupted.
    """

    CREATED = "created"
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    STOPPED = "stopped"


_RANK = {state: rank for rank, state in enumerate(State)}


@runtime_checkable
class Component(Protocol):
    """Something the application starts before it is ready and stops when it ends."""

    async def start(self) -> None:
        """Acquire what the component holds: connect, bind, open."""
        ...

    async def stop(self) -> None:
        """Release it gracefully: finish current work, flush, close."""
        ...


def is_component(obj: object) -> bool:
    """Whether ``obj``'s class defines ``async def start`` and ``async def stop``.

    Stricter than ``isinstance(obj, Component)``, which only sees that the attributes exist:
    a plain ``def start`` that blocks would stall every other start.
    """
    cls = type(obj)
    return inspect.iscoroutinefunction(getattr(cls, "start", None)) and (
        inspect.iscoroutinefunction(getattr(cls, "stop", None))
    )


@runtime_checkable
class Killable(Protocol):
    """A component that can also be stopped urgently; ``kill`` is optional on a component."""

    def kill(self) -> None:
        """Release at once what :meth:`Component.stop` did not; it must never raise."""
        ...


@dataclass(frozen=True, slots=True)
class Unit:
    """A named component, and the names of the units it needs started before it.

    Raises:
        LifecycleError: ``component`` is not a :class:`Component`, or ``needs`` is a string.
    """

    name: str
    component: Component
    needs: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not is_component(self.component):
            raise LifecycleError(
                f"unit {self.name!r} was given {type(self.component).__name__} "
                f"{self.component!r:.60}, which is not a component: give its class "
                "'async def start(self)' and 'async def stop(self)'"
            )
        needs: Iterable[str] = self.needs  # any iterable of names works at run time
        if isinstance(needs, str):
            raise LifecycleError(
                f"unit {self.name!r} has needs={needs!r}, a string; pass a set of unit "
                f"names: needs=frozenset({{{needs!r}}})"
            )
        object.__setattr__(self, "needs", frozenset(needs))


@dataclass(frozen=True, slots=True)
class BackgroundTask:
    """A coroutine that runs while the application is ready, supervised by the lifecycle.

    If ``run`` raises, the application stops with exit code 1; if it returns, it is done and
    the application goes on. It is cancelled when the application stops.
    """

    name: str
    run: Callable[[], Awaitable[None]]


class _Graph:
    """The units by name, checked: unique names, known needs, no cycle."""

    def __init__(self, units: Iterable[Unit]) -> None:
        units = tuple(units)
        _check_unique("unit", [unit.name for unit in units])
        self.units = {unit.name: unit for unit in units}
        self.dependents: dict[str, set[str]] = {name: set() for name in self.units}
        for unit in units:
            unknown = sorted(unit.needs - self.units.keys())
            if unknown:
                raise LifecycleError(
                    f"unit {unit.name!r} needs {_names(unknown)}, but there is no such unit "
                    f"among {_names(sorted(self.units))}: add it or fix the name"
                )
            for need in unit.needs:
                self.dependents[need].add(unit.name)
        try:
            sorter = graphlib.TopologicalSorter({unit.name: unit.needs for unit in units})
            self.order = tuple(sorter.static_order())
        except graphlib.CycleError as error:
            # graphlib lists each unit before the one that needs it; "->" reads "needs" here.
            cycle = " -> ".join(map(repr, reversed(error.args[1])))
            raise LifecycleError(
                f"units cannot need each other in a cycle; found {cycle}: remove one of these needs"
            ) from None


def _check_unique(kind: str, names: Iterable[str]) -> None:
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise LifecycleError(
            f"{kind} names must be unique; found more than one {kind} named {_names(repeated)}: "
            "rename or remove the duplicates"
        )


def _names(names: Iterable[str]) -> str:
    return ", ".join(map(repr, names))


class Lifecycle:
    """Starts an application's units and background tasks, and stops them.

    A lifecycle runs once: from ``created`` through ``starting``, ``ready`` and ``stopping`` to
    ``stopped``. Use :meth:`run` in a program (it handles SIGTERM and SIGINT),
    :meth:`running` in tests and when embedding, or :meth:`start` and :meth:`stop`.

    Args:
        name: the application's name, used in logs and errors.
        grace: the seconds a stop may take, the wait for the work in flight and the stops of
            the units included, before whatever has not stopped is killed.
        drain: the seconds a stop asked for with a drain (a SIGTERM) first goes on serving, not
            ready, before the grace period begins; 0 stops at once.

    Raises:
        LifecycleError: ``grace`` or ``drain`` is negative or not finite.
    """

    def __init__(self, name: str, *, grace: float = 10.0, drain: float = 0.0) -> None:
        for argument, value, example in (("grace", grace, 10.0), ("drain", drain, 5.0)):
            if not 0 <= value < math.inf:
                raise LifecycleError(
                    f"{argument} must be a finite number of seconds, 0 or more; got {value!r}: "
                    f"pass for example {argument}={example}"
                )
        self.name = name
        self.grace = grace
        self.drain = drain
        self._inflight = InFlight(name)
        self._state = State.CREATED
        self._changed = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._exit_code: int | None = None
        self._forced = False
        self._failed = False
        self._began: float | None = None
        self._signals = 0
        self._forcing: asyncio.Future[None] | None = None
        self._stopper: asyncio.Task[None] | None = None
        self._graph = _Graph(())
        self._live: set[str] = set()
        self._starting: dict[str, asyncio.Task[None]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._start_error: Exception | None = None
        self._task_error: TaskFailedError | None = None

    @property
    def state(self) -> State:
        """Where the application is in its life."""
        return self._state

    @property
    def uptime(self) -> float:
        """The seconds since the application began to start; 0 before."""
        return 0.0 if self._began is None else time.monotonic() - self._began

    @property
    def forced(self) -> bool:
        """Whether the stop was forced (a second signal, or ``request_stop(force=True)``)."""
        return self._forced

    @property
    def inflight(self) -> InFlight:
        """The gate every operation passes through; closed when the stop begins."""
        return self._inflight

    @property
    def exit_code(self) -> int | None:
        """The process exit code once stopped, else ``None``.

        0 after a clean stop; 1 after a failure (a start, a task, a stop, a kill); 128 + the
        signal number after a forced stop; or the code given to :meth:`request_stop`.
        """
        return self._outcome() if self._state is State.STOPPED else None

    async def start(self, units: Iterable[Unit], tasks: Iterable[BackgroundTask] = ()) -> None:
        """Start the units in dependency order, then the tasks; return once ready.

        If a unit's start raises, the units still waiting are not started, those already
        starting may finish, everything that started is stopped again, and the exception is
        raised as it was. A ``CancelledError`` that leaks out of a unit's start without the
        lifecycle having cancelled it is such a failure too, raised as a ``LifecycleError``.

        Raises:
            LifecycleError: the units or tasks are invalid, this lifecycle has already been
                started, a stop was requested while starting, a unit's start leaked a
                cancellation, or some unit never started.
        """
        if not await self._start(units, tasks):
            raise LifecycleError(
                f"{self.name!r} did not start: a stop was requested while it was starting, and "
                "what had started was stopped again; request the stop after wait_ready()"
            )

    async def stop(self) -> int:
        """Stop gracefully within the grace period, or wait for the stop under way.

        Returns:
            The exit code (see :attr:`exit_code`).
        """
        self.request_stop()
        if self._state is State.CREATED:
            self._set_state(State.STOPPED)
        await self.wait_state(State.STOPPED)
        return self._outcome()

    def request_stop(self, exit_code: int = 0, *, force: bool = False, drain: bool = False) -> None:
        """Ask the application to stop; the stop runs in the background. Idempotent.

        Call it from the event loop's thread (from another thread, use
        ``loop.call_soon_threadsafe``).

        Args:
            exit_code: the exit code of a clean stop; the first request's code is kept.
            force: kill whatever has not stopped yet, at once, and exit with ``exit_code``.
            drain: if the application is ready, go on serving for :attr:`drain` seconds,
                no longer ready, before the stop begins (as a SIGTERM does); the first
                request says. A forced stop ends the drain at once.
        """
        if self._state is State.STOPPED:
            return
        drains = False
        if force:
            self._forced = True
            self._exit_code = exit_code
            if self._forcing is not None and not self._forcing.done():
                self._forcing.set_result(None)
        elif self._stop_requested.is_set():
            return
        else:
            self._exit_code = exit_code
            drains = drain
        self._stop_requested.set()
        if self._state is State.READY and self._stopper is None:
            self._stopper = asyncio.get_running_loop().create_task(
                self._stop_sequence(drain=drains), name=f"stop {self.name}"
            )

    async def wait_state(self, state: State) -> State:
        """Wait until the application has reached ``state`` or gone past it.

        Returns:
            The state it is in by then.
        """
        while _RANK[self._state] < _RANK[state]:
            await self._changed.wait()
        return self._state

    async def wait_ready(self) -> None:
        """Wait until the application is ready.

        Raises:
            LifecycleError: it stopped, or is stopping, instead.
        """
        state = await self.wait_state(State.READY)
        if state is not State.READY:
            raise LifecycleError(
                f"{self.name!r} is {state}, so it will not be ready: it failed to start or a "
                "stop was requested; its log says which"
            )

    @contextlib.asynccontextmanager
    async def running(
        self, units: Iterable[Unit], tasks: Iterable[BackgroundTask] = ()
    ) -> AsyncIterator[Self]:
        """Start on entering the block and stop on leaving it, as :meth:`start` and :meth:`stop`.

        Raises:
            TaskFailedError: on leaving, if a background task failed (and the block did not
                raise an error of its own).
        """
        await self.start(units, tasks)
        try:
            yield self
        finally:
            await self.stop()
        if self._task_error is not None:
            raise self._task_error

    async def run(
        self,
        units: Iterable[Unit],
        tasks: Iterable[BackgroundTask] = (),
        *,
        signals: bool = True,
    ) -> int:
        """Start, wait for a signal or a stop request, stop, and return the exit code.

        In the main thread, the first SIGTERM or SIGINT starts a graceful stop and a second
        one forces it: what has not stopped is killed and the exit code is 128 + the signal
        number. The handlers are removed when it returns. With ``signals=False`` the caller
        handles signals itself, around more than the run (see :meth:`handling_signals`).

        Raises:
            Exception: whatever a unit's ``start`` raised, after stopping what had started.
            LifecycleError: the units or tasks are invalid.
        """
        with self.handling_signals() if signals else contextlib.nullcontext():
            if await self._start(units, tasks):
                try:
                    await self._stop_requested.wait()
                finally:
                    await self.stop()
        return self._outcome()

    async def _start(self, units: Iterable[Unit], tasks: Iterable[BackgroundTask]) -> bool:
        """Start everything; ``False`` if a stop request interrupted it (and it stopped)."""
        if self._state is not State.CREATED:
            raise LifecycleError(
                f"{self.name!r} is {self._state}: a lifecycle starts only once; create a new "
                "Lifecycle to start the application again"
            )
        graph = _Graph(units)
        tasks = tuple(tasks)
        _check_unique("background task", [task.name for task in tasks])
        self._graph = graph
        loop = asyncio.get_running_loop()
        began = loop.time()
        self._began = time.monotonic()
        self._set_state(State.STARTING)
        logger.info("starting %s", self.name)
        try:
            await self._start_units()
        except asyncio.CancelledError:
            await self._stop_sequence()
            raise
        ready = self._start_error is None and not self._stop_requested.is_set()
        never = [name for name in graph.order if name not in self._live]
        if ready and never:
            # A start() that raised a BaseException other than Exception ended its unit
            # neither live nor failed; READY would leave it, and what needs it, unstarted.
            self._failed = True
            self._start_error = LifecycleError(
                f"{self.name!r} did not start: {_names(never)} never started, yet no start() "
                "raised an Exception (one may have raised a BaseException, which ends its unit "
                "without failing it); what had started was stopped again: raise an Exception "
                "subclass from start()"
            )
        elif ready:
            for task in tasks:
                self._tasks[task.name] = loop.create_task(
                    self._supervise(task), name=f"{self.name}: {task.name}"
                )
            self._set_state(State.READY)
            logger.info("%s ready in %.3fs", self.name, loop.time() - began)
            return True
        await self._stop_sequence()
        if self._start_error is not None:
            raise self._start_error
        return False

    async def _start_units(self) -> None:
        """Launch each unit once those it needs are live; stop launching on a failure or stop."""
        waiting = {name: unit.needs for name, unit in self._graph.units.items()}
        requested = asyncio.ensure_future(self._stop_requested.wait())
        try:
            while self._start_error is None and not self._stop_requested.is_set():
                for name in [name for name, needs in waiting.items() if needs <= self._live]:
                    del waiting[name]
                    self._starting[name] = asyncio.create_task(
                        self._start_unit(self._graph.units[name]), name=f"start {name}"
                    )
                if not self._starting:
                    return
                await asyncio.wait(
                    [requested, *self._starting.values()], return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            requested.cancel()

    async def _start_unit(self, unit: Unit) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            try:
                await unit.component.start()
            except asyncio.CancelledError as cancelled:
                if cast("asyncio.Task[None]", asyncio.current_task()).cancelling():
                    raise  # the lifecycle's own: a kill cancels the units still starting
                raise LifecycleError(
                    f"unit {unit.name!r} did not start: its start() raised CancelledError, but "
                    "nothing cancelled the start, so a cancellation leaked out of start() (such "
                    "as that of a future something else cancelled); catch it in start() and "
                    "raise an error that says what failed"
                ) from cancelled
        except Exception as error:
            self._failed = True
            first = self._start_error is None
            if first:
                self._start_error = error
            # The first error is raised to the caller; any later one is only seen here.
            logger.error(  # noqa: TRY400 - the traceback of the first error goes to the caller
                "starting unit %r failed: %s: %s",
                unit.name,
                type(error).__name__,
                error,
                exc_info=None if first else error,
            )
        else:
            self._live.add(unit.name)
            logger.debug("started %s in %.3fs", unit.name, loop.time() - began)
        finally:
            del self._starting[unit.name]

    async def _supervise(self, task: BackgroundTask) -> None:
        try:
            await task.run()
        except Exception as error:
            failure = TaskFailedError(task.name, error)
            logger.error("%s", failure, exc_info=error)  # noqa: TRY400 - exc_info is the task's error
            self._failed = True
            if self._task_error is None:
                self._task_error = failure
            self.request_stop(1)
        else:
            logger.info("background task %r finished", task.name)

    async def _stop_sequence(self, *, drain: bool = False) -> None:
        """Drain if asked; wait for the work in flight, cancel the tasks, stop the units in reverse.

        What has not stopped at the end of the grace period is killed.
        """
        loop = asyncio.get_running_loop()
        began = loop.time()
        self._set_state(State.STOPPING)
        self._forcing = forcing = loop.create_future()
        if self._forced:
            forcing.set_result(None)
        graceful: asyncio.Task[None] | None = None
        try:
            if drain and self.drain and not forcing.done():
                # Everything goes on as when ready, the gate open: only readiness has changed,
                # which is what a load balancer reads to send the traffic elsewhere.
                logger.info(
                    "%s is draining for %gs: not ready, still serving", self.name, self.drain
                )
                await asyncio.wait([forcing], timeout=self.drain)
            logger.info("stopping %s", self.name)
            self._inflight.close()
            graceful = loop.create_task(self._stop_gracefully(), name=f"stop {self.name}")
            await asyncio.wait(
                [graceful, forcing], timeout=self.grace, return_when=asyncio.FIRST_COMPLETED
            )
            if graceful.done():
                graceful.result()  # a bug in the stop itself must not pass unseen
            else:
                graceful.cancel()
                self._kill(
                    "the stop was forced"
                    if self._forced
                    else f"the grace period of {self.grace:g}s ran out"
                )
        except asyncio.CancelledError:
            if graceful is not None:
                graceful.cancel()
            self._kill("the stop was cancelled")
            raise
        finally:
            self._set_state(State.STOPPED)
            code = self._outcome()
            if code:
                logger.warning(
                    "%s stopped in %.3fs with exit code %d", self.name, loop.time() - began, code
                )
            else:
                logger.info("%s stopped in %.3fs", self.name, loop.time() - began)

    async def _stop_gracefully(self) -> None:
        await self._inflight.wait_idle()
        await self._stop_tasks()
        await self._stop_units()

    async def _stop_tasks(self) -> None:
        pending = [task for task in self._tasks.values() if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _stop_units(self) -> None:
        involved = self._live | self._starting.keys()
        stopped = {name: asyncio.Event() for name in involved}
        # Cancelling the stop (at the deadline) cancels every unit's pending stop() through this.
        await asyncio.gather(*(self._stop_unit(name, stopped) for name in involved))

    async def _stop_unit(self, name: str, stopped: dict[str, asyncio.Event]) -> None:
        """Stop one unit once its dependents have stopped (and its own start has ended)."""
        for dependent in self._graph.dependents[name] & stopped.keys():
            await stopped[dependent].wait()
        starting = self._starting.get(name)
        if starting is not None:
            await asyncio.wait([starting])
        if name in self._live:
            loop = asyncio.get_running_loop()
            began = loop.time()
            try:
                await self._graph.units[name].component.stop()
            except Exception as error:
                self._failed = True
                logger.error(  # noqa: TRY400 - exc_info is given explicitly
                    "stopping unit %r failed: %s: %s",
                    name,
                    type(error).__name__,
                    error,
                    exc_info=error,
                )
            else:
                logger.debug("stopped %s in %.3fs", name, loop.time() - began)
            self._live.discard(name)
        stopped[name].set()

    def _kill(self, reason: str) -> None:
        """Kill, dependents first, every unit that has not stopped; cancel what still runs."""
        self._failed = True
        if self._inflight.count:
            logger.warning(
                "%d in-flight operation(s) had not finished: %s", self._inflight.count, reason
            )
        for name in reversed(self._graph.order):
            if name not in self._live and name not in self._starting:
                continue
            logger.warning("killing unit %r: %s", name, reason)
            component = self._graph.units[name].component
            if isinstance(component, Killable):
                try:
                    component.kill()
                except Exception:
                    logger.exception(
                        "kill() of unit %r raised; ignored, but it must never raise", name
                    )
        self._live.clear()
        for task in [*self._tasks.values(), *self._starting.values()]:
            task.cancel()

    @contextlib.contextmanager
    def handling_signals(
        self, on_signal: Callable[[signal.Signals], None] | None = None
    ) -> Iterator[None]:
        """Route SIGTERM and SIGINT to ``on_signal`` (:meth:`handle_signal`) until the block ends.

        Only in the main thread, on an event loop that can handle signals; the handlers that
        were there before are put back afterwards.
        """
        route = on_signal or self.handle_signal
        if threading.current_thread() is not threading.main_thread():
            logger.debug("not in the main thread: signals are left alone")
            yield
            return
        loop = asyncio.get_running_loop()
        previous = {signum: signal.getsignal(signum) for signum in _SIGNALS}
        installed: list[signal.Signals] = []
        try:
            for signum in _SIGNALS:
                loop.add_signal_handler(signum, route, signum)
                installed.append(signum)
        except NotImplementedError:
            logger.debug("this event loop cannot handle signals: use request_stop()")
        try:
            yield
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
                handler = previous[signum]
                # None means a handler set outside Python; the default is the closest we can do.
                signal.signal(signum, signal.SIG_DFL if handler is None else handler)

    def handle_signal(self, signum: signal.Signals) -> None:
        """The first signal starts a graceful stop; a second one forces it.

        A SIGTERM, what an orchestrator sends, stops after the drain period; a SIGINT, a
        Ctrl-C at a terminal with no load balancer to wait for, at once.
        """
        self._signals += 1
        if self._signals == 1:
            drain = signum == signal.SIGTERM and self.drain > 0 and self._state is State.READY
            if drain:
                logger.info(
                    "received %s: draining for %gs, then stopping within %gs (send again to force)",
                    signum.name,
                    self.drain,
                    self.grace,
                )
            else:
                logger.info(
                    "received %s: stopping within %gs (send again to force)",
                    signum.name,
                    self.grace,
                )
            self.request_stop(0, drain=drain)
        else:
            logger.warning("received %s while stopping: killing what has not stopped", signum.name)
            self.request_stop(128 + signum, force=True)

    def _set_state(self, state: State) -> None:
        self._state = state
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _outcome(self) -> int:
        code = self._exit_code or 0
        return 1 if code == 0 and self._failed else code

    def __repr__(self) -> str:
        return f"<Lifecycle {self.name!r} {self._state}>"
