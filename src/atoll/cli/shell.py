"""``atoll shell MODULE:OBJECT [options]``: a Python prompt inside a running application.

The service or system is started in this process as ``atoll run`` starts it, with its own
options (``--broker-url``, ``--db-url``...), minus HTTP: no port is opened (``--no-server``
and ``--no-metrics`` come first; give ``--server`` to serve as well). Its consumers run too:
on a broker other processes share, the shell is one more instance of each service. The
prompt's namespace holds a client of every service, ``send``, ``publish``, the bus, the
broker, the container and ``acting_as``, and a statement may ``await`` at the top level::

    $ atoll shell runnerly.app:system --broker-url nats://127.0.0.1:4222
    >>> with acting_as(Identity("user", "1")):
    ...     await runs.methods.weekly_meters(user_id=1)
    ...
    5000.0

The prompt is IPython's when IPython is installed (unless ``--plain``), else Python's own.
The application's event loop runs in a thread of its own and the prompt in the main thread,
so that Ctrl-C interrupts what the prompt waits for, as in any Python prompt; each statement
runs on the application's loop, where its clients and connections live. Ctrl-D or ``exit()``
stops the application, gracefully, and leaves; so does SIGTERM.

Exit status: 0 once the prompt is left, 1 when the application fails to start or to stop, 2
for a usage or configuration error, 130 when Ctrl-C cut its stop short.
"""

from __future__ import annotations

import ast
import asyncio
import code
import concurrent.futures
import contextlib
import importlib
import inspect
import os
import signal
import sys
import threading
import traceback
import types
from typing import TYPE_CHECKING, Any, TypeVar

import click

from atoll.cli.db import load_service_target
from atoll.cli.reporting import target_reported
from atoll.clients.directory import Clients
from atoll.kernel.entrypoint import EXIT_FAILURE, configure_logging, prepare_config, running
from atoll.kernel.options import masked_url
from atoll.messaging.broker import Broker
from atoll.messaging.bus import MessageBus
from atoll.security.auth import acting_as
from atoll.security.identity import Identity
from atoll.service.composition import compose_target
from atoll.service.system import services_of

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence

    from atoll.kernel.app import App, LogOptions, LoopOptions
    from atoll.kernel.config import Config
    from atoll.kernel.container import Container
    from atoll.messaging.options import BrokerOptions
    from atoll.service.definition import ServiceDefinition
    from atoll.service.system import SystemDefinition

__all__ = ["AsyncConsole", "shell", "shell_namespace"]

T = TypeVar("T")

_STEP = 0.2
"""Seconds the prompt's wait for a statement lasts at most before it looks at signals."""

SHELL_DEFAULTS = ("--no-server", "--no-metrics", "--log-level", "warning")
"""Flags put before the application's own: no port opened (nor ``/metrics``, which would need
one), and only warnings logged, so that log lines do not run into the prompt. The
application's own flags come after, and win."""


@click.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "allow_interspersed_args": False,
    },
    add_help_option=False,
)
@click.option("--plain", is_flag=True, help="Python's own prompt, even if IPython is installed.")
@click.argument("target", metavar="MODULE:OBJECT")
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def shell(context: click.Context, target: str, options: tuple[str, ...], *, plain: bool) -> None:
    """Start the service or system TARGET in this process and open a Python prompt in it.

    TARGET is MODULE:OBJECT, an atoll.Service or atoll.System (or a function returning one).
    The options after it are the application's own (see them with `atoll shell
    MODULE:OBJECT --help`): the broker, the databases. No port is opened unless --server is
    given. The prompt holds a client of each service, send, publish, bus, broker and
    container; `await` works at the top level. Ctrl-D or exit() stops the application.

    \b
    Examples:
      atoll shell runnerly.app:system
      atoll shell runnerly.app:system --broker-url nats://127.0.0.1:4222
    """  # noqa: D301 - \b is click's mark for a paragraph kept as written
    if target in {"-h", "--help"}:
        click.echo(context.get_help())
        context.exit(0)
    prog = f"atoll shell {target}"
    with target_reported(context):
        obj = load_service_target(
            target, "atoll shell starts, and opens a prompt in, the application of"
        )
        # Composed as atoll run composes it: its server serves only with --server, since
        # SHELL_DEFAULTS says --no-server first.
        app = compose_target(obj, serve=True)
    config = prepare_config(app, [*SHELL_DEFAULTS, *options], os.environ, prog=prog)
    if isinstance(config, int):
        context.exit(config)
    log: LogOptions = config.section("log")
    configure_logging(log, app.name, config.secrets())
    context.exit(_open(obj, app, config, plain=plain))


def _open(
    target: ServiceDefinition | SystemDefinition[ServiceDefinition],
    app: App,
    config: Config,
    *,
    plain: bool,
) -> int:
    """Start the application on a thread of its own, prompt until the user leaves, stop it."""
    application = _Application(app, config)
    try:
        container = application.start()
    except Exception as error:  # noqa: BLE001 - what failed is said, as atoll run says it
        click.echo(f"atoll shell: {app.name} failed to start: {error}", err=True)
        return EXIT_FAILURE
    services = services_of(target)
    namespace = shell_namespace(container, [service.name for service in services])
    banner = _banner(app, config, namespace, [service.name for service in services])
    with _terminated_on_sigterm():
        try:
            _prompt(namespace, banner, application.run, plain=plain)
        except _Terminated:
            click.echo("", err=True)  # the prompt's line, ended
    # From here a second SIGTERM ends the process at once, as Ctrl-C does: a forced stop.
    try:
        application.stop()
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except Exception as error:  # noqa: BLE001 - as at the start
        click.echo(f"atoll shell: {app.name} failed to stop: {error}", err=True)
        return EXIT_FAILURE
    return 0


def shell_namespace(container: Container, services: Sequence[str]) -> dict[str, object]:
    """What the prompt starts with: a client per service, and ways into the application.

    Each service is under its name, ``-`` read as ``_`` (``await runs.methods.x()``); one
    whose name is not an identifier, or is taken, is reached with ``clients.get(name)``.

    A call made in the prompt carries no identity, as a call of the process's own: a method
    that needs one refuses it, unless made in a ``with acting_as(Identity(...)):`` block.
    """
    bus = container.get(MessageBus)
    clients = container.get(Clients)

    async def send(message: object) -> Any:
        """Handle a command or query and return its handler's result (an event: publish it)."""
        return await bus.handle(message)

    async def publish(*events: object) -> None:
        """Publish events on the bus: this process's handlers of them run before it returns."""
        await bus.publish(*events)

    namespace: dict[str, object] = {
        "__name__": "__console__",
        "__doc__": None,
        "Identity": Identity,
        "acting_as": acting_as,
        "asyncio": asyncio,
        "broker": container.get(Broker),
        "bus": bus,
        "clients": clients,
        "container": container,
        "publish": publish,
        "send": send,
    }
    for name in services:
        variable = name.replace("-", "_")
        if variable.isidentifier() and variable not in namespace:
            namespace[variable] = clients.get(name)
    return namespace


def _banner(
    app: App, config: Config, namespace: Mapping[str, object], services: Sequence[str]
) -> str:
    broker: BrokerOptions = config.section("broker")
    named = [name for name in services if name.replace("-", "_") in namespace]
    example = named[0].replace("-", "_") if named else "clients.get(NAME)"
    version = f" {app.version}" if app.version else ""
    variables = ", ".join(name.replace("-", "_") for name in named) or "-"
    clients = f"a client of each service: await {example}.methods.METHOD(...)"
    column = 16
    lines = [
        f"atoll shell: {app.name}{version} runs in this process, on {masked_url(broker.url)}",
        f"  {variables:<{column}} {clients}"
        if len(variables) <= column
        else f"  {variables}\n  {'':<{column}} {clients}",
        "  clients          every service by name: clients.get(NAME)",
        "  send(message)    handle a command or query, and return its result",
        "  publish(*events) publish events; the handlers here run before it returns",
        "  bus, broker      the message bus, and the broker (on the wire)",
        "  container        the started container: container.get(TYPE)",
        "  acting_as        call as someone: with acting_as(Identity('user', 'ada')): ...",
        "await works at the top level. Ctrl-D or exit() stops the application and leaves.",
    ]
    return "\n".join(lines)


class _Terminated(BaseException):
    """SIGTERM came: leave the prompt and stop the application.

    A ``BaseException``, so that a statement's ``except Exception`` does not swallow it.
    """


@contextlib.contextmanager
def _terminated_on_sigterm() -> Iterator[None]:
    def terminate(_signum: int, _frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Application:
    """The application running on an event loop in a thread of its own.

    :meth:`start` returns the started container; :meth:`run` schedules a coroutine on that
    loop; :meth:`stop` stops the application and ends the thread.
    """

    def __init__(self, app: App, config: Config) -> None:
        self._app = app
        self._config = config
        self._started: concurrent.futures.Future[Container] = concurrent.futures.Future()
        self._ended: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._leave: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="atoll shell", daemon=True)

    def start(self) -> Container:
        """Start the application; its container once started.

        Raises:
            Exception: what a factory or a component's ``start`` raised.
        """
        self._thread.start()
        return self._started.result()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Schedule ``coroutine`` on the application's loop."""
        assert self._loop is not None  # noqa: S101 - started before any statement runs
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def stop(self) -> None:
        """Stop the application, gracefully, and wait until it has.

        Raises:
            Exception: what a component's ``stop`` raised.
        """
        if self._loop is not None and self._leave is not None:
            self._loop.call_soon_threadsafe(self._leave.set)
        self._thread.join()
        self._ended.result()

    def _main(self) -> None:
        if hasattr(signal, "pthread_sigmask"):  # POSIX
            # A signal goes to any thread that does not block it, and only the thread that
            # gets it wakes up: blocked here (and in the threads started from here), Ctrl-C
            # and SIGTERM reach the main thread, whose wait for a statement they interrupt.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        loop: LoopOptions = self._config.section("loop")
        try:
            with asyncio.Runner(loop_factory=loop.factory()) as runner:
                runner.run(self._session())
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            if not self._started.done():
                self._started.set_exception(error)
            self._ended.set_exception(error)
        else:
            self._ended.set_result(None)

    async def _session(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._leave = asyncio.Event()
        async with running(self._app, self._config) as container:
            self._started.set_result(container)
            await self._leave.wait()


class AsyncConsole(code.InteractiveConsole):
    """Python's interactive console, where a statement may ``await`` at the top level.

    Each statement is compiled with top-level await allowed, and run as a coroutine by
    ``run``: a function that schedules it on an event loop (another thread's) and returns its
    concurrent future. Ctrl-C while a statement runs cancels it.

    Args:
        namespace: the variables the statements see and set.
        run: schedules a coroutine on the loop, as ``asyncio.run_coroutine_threadsafe``.
    """

    def __init__(
        self,
        namespace: dict[str, Any],
        run: Callable[[Coroutine[Any, Any, Any]], concurrent.futures.Future[Any]],
    ) -> None:
        super().__init__(namespace)
        self.compile.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        self._run = run

    def runcode(self, code: types.CodeType) -> None:
        """Run a compiled statement on the loop; show its error, if any, as Python does."""
        future: concurrent.futures.Future[BaseException | None] | None = None
        try:
            future = self._run(_statement(types.FunctionType(code, self.locals)))
            leaving = _result(future)
        except KeyboardInterrupt:  # Ctrl-C, while the statement ran
            if future is not None:
                future.cancel()
            self.write("\nKeyboardInterrupt\n")
        except concurrent.futures.CancelledError:
            self.write("\nCancelled\n")
        except _Terminated:
            if future is not None:
                future.cancel()
            raise
        except BaseException as error:  # noqa: BLE001 - shown, as the console shows any error
            self._show(error)
        else:
            if isinstance(leaving, KeyboardInterrupt):  # raised by the statement itself
                self.write("\nKeyboardInterrupt\n")
            elif leaving is not None:
                raise leaving

    def _show(self, error: BaseException) -> None:
        """Show ``error``'s traceback from the statement on: the frames that ran it are noise."""
        sys.last_type, sys.last_value = type(error), error
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != self.filename:
            tb = tb.tb_next
        sys.last_traceback = tb or error.__traceback__
        lines = traceback.format_exception(type(error), error, sys.last_traceback)
        self.write("".join(lines))


def _result(future: concurrent.futures.Future[T]) -> T:
    """The result of ``future``, waited for in steps of :data:`_STEP` seconds.

    A signal (Ctrl-C) that comes just as a wait begins does not end it: Python runs the
    signal's handler once the wait returns. A wait without end would then never see it.
    """
    while True:
        try:
            return future.result(timeout=_STEP)
        except TimeoutError:
            continue


async def _statement(function: Callable[[], object]) -> BaseException | None:
    """Run a statement's code, awaiting it if it awaits; what would leave the prompt, if any.

    Raised on the loop, ``SystemExit`` and ``KeyboardInterrupt`` would stop the loop, and the
    application with it: they are returned to the prompt, whose to act on they are.
    """
    try:
        result = function()
        if inspect.iscoroutine(result):
            await result
    except (SystemExit, KeyboardInterrupt) as leaving:
        return leaving
    return None


def _prompt(
    namespace: dict[str, Any],
    banner: str,
    run: Callable[[Coroutine[Any, Any, Any]], concurrent.futures.Future[Any]],
    *,
    plain: bool,
) -> None:
    """Prompt until the user leaves: IPython's prompt when installed and wanted, else Python's."""
    if not plain:
        try:
            ipython = importlib.import_module("IPython")
        except ImportError:
            pass
        else:
            _ipython(ipython.start_ipython, namespace, banner, run)
            return
    if sys.stdin.isatty():
        _complete_from(namespace)
    console = AsyncConsole(namespace, run)
    with contextlib.suppress(SystemExit):  # exit() leaves the prompt, not the process
        console.interact(banner=banner, exitmsg="")


def _ipython(
    start_ipython: Callable[..., object],
    namespace: dict[str, Any],
    banner: str,
    run: Callable[[Coroutine[Any, Any, Any]], concurrent.futures.Future[Any]],
) -> None:
    """IPython's prompt, whose top-level awaits run on the application's loop."""
    traitlets = importlib.import_module("traitlets.config")  # IPython's own dependency

    def on_the_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
        future = run(coroutine)
        try:
            return _result(future)
        except KeyboardInterrupt:
            future.cancel()
            raise

    settings = traitlets.Config()
    settings.TerminalInteractiveShell.banner2 = banner + "\n"
    settings.InteractiveShell.autoawait = True
    settings.InteractiveShell.loop_runner = on_the_loop
    with contextlib.suppress(SystemExit):
        start_ipython(argv=[], user_ns=namespace, config=settings)


def _complete_from(namespace: dict[str, Any]) -> None:
    """Line editing, and Tab completing the names of ``namespace``, on a terminal."""
    try:
        import readline  # noqa: PLC0415 - a terminal's need only
        import rlcompleter  # noqa: PLC0415 - a terminal's need only
    except ImportError:  # a Python built without readline: plain lines
        return
    readline.set_completer(rlcompleter.Completer(namespace).complete)
    readline.parse_and_bind("tab: complete")
