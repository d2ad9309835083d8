"""A TCP proxy the fault tests put between a process and a real server, then cut and restore.

The real servers (PostgreSQL, the brokers) are shared and never stopped: a test that needs one
to go away points its processes at a proxy and cuts that instead.
"""

import asyncio
import contextlib
import threading

import pytest


class TcpProxy:
    """Relays 127.0.0.1:``port`` to 127.0.0.1:``target``, on an event loop of its own thread.

    Its methods are plain calls, so that a test blocked on a process's output does not stall
    the relaying. Cut, it closes every connection and refuses new ones.
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.Transport] = set()

    def open(self) -> None:
        """Take connections (on the same port as before, if it was open once)."""
        self._call(self._open())

    def cut(self) -> None:
        """Close every connection, and refuse new ones."""
        self._call(self._cut())

    def reserve(self) -> None:
        """Choose the port, and refuse connections on it until :meth:`open`."""
        self.open()
        self.cut()

    def close(self) -> None:
        """Cut, end every relay, and stop the proxy's loop once every socket is closed."""
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def _call(self, coroutine) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    async def _open(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._relay, "127.0.0.1", self.port, reuse_address=True
            )
            self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()
        if server is not None:
            await server.wait_closed()

    async def _shutdown(self) -> None:
        await self._cut()
        relays = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)
        # An aborted transport closes its socket on the loop's next turn: let it come.
        for _ in range(3):
            await asyncio.sleep(0)

    async def _relay(self, reader, writer) -> None:
        self._transports.add(writer.transport)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        if self._server is None:  # cut meanwhile
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self._transports |= {writer.transport, up_writer.transport}

        async def pipe(source, sink) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()
            self._transports.discard(sink.transport)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
def tcp_proxy():
    """Make :class:`TcpProxy` s to a port (open at once, unless ``closed``); closed after."""
    made: list[TcpProxy] = []

    def make(target: int, *, closed: bool = False) -> TcpProxy:
        proxy = TcpProxy(target)
        made.append(proxy)
        if closed:
            proxy.reserve()
        else:
            proxy.open()
        return proxy

    yield make
    for proxy in made:
        proxy.close()
