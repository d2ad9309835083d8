"""A service that tells, over HTTP, how the process serving it runs.

``GET /overlap`` takes a while and answers how many of its calls have run at once at most:
pipelined on one connection, one.

``GET /probe`` (a raw ASGI app mounted on the service) answers with the module of the running
event loop's class (``uvloop`` or ``asyncio...``) and whether the connection the request came
on has ``TCP_NODELAY`` set. The connection is found among the process's open sockets by its
peer, the client's address from the request: the server's socket objects are not reachable
from an ASGI app, and the socket's file descriptor is what the kernel's option belongs to.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path

import atoll

service = atoll.Service("probe", version="1.0.0")


def nodelay_of(peer: tuple[str, int]) -> int | None:
    """``TCP_NODELAY`` of this process's socket connected to ``peer``; None if none is."""
    for entry in Path("/proc/self/fd").iterdir():
        try:
            if not str(entry.readlink()).startswith("socket:"):
                continue
            sock = socket.socket(fileno=os.dup(int(entry.name)))
        except OSError:  # closed meanwhile
            continue
        with sock:
            try:
                connected = sock.getpeername()[:2] == peer
            except OSError:  # listening, or not an internet socket
                continue
            if connected and sock.type == socket.SOCK_STREAM:
                return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    return None


async def probe(scope, receive, send):
    """The raw ASGI app behind ``/probe``."""
    del receive
    host, port = scope["client"]
    answer = {
        "loop": type(asyncio.get_running_loop()).__module__,
        # granian gives the port as a string, where the ASGI specification says an int
        "nodelay": nodelay_of((host, int(port))),
    }
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(answer).encode()})


service.mount("/probe", probe)

_overlap = {"in_flight": 0, "most": 0}


@service.get("/overlap")
async def overlap() -> int:
    """Take a while, counting how many calls of it run at once; the most so far."""
    _overlap["in_flight"] += 1
    _overlap["most"] = max(_overlap["most"], _overlap["in_flight"])
    try:
        await asyncio.sleep(0.05)  # long enough for a pipelined next request to start, if run
    finally:
        _overlap["in_flight"] -= 1
    return _overlap["most"]


if __name__ == "__main__":
    atoll.main(service)
