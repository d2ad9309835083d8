"""The JSON-RPC scenario on gemstone, the JSON-RPC microservice peer, on its own Tornado server.

gemstone (last released in 2017) serves the methods a ``MicroService`` exposes at ``/api``
through Tornado's HTTP server; it has no REST side, so only the JSON-RPC scenario runs on it.
Its per-request access log is turned off, as uvicorn's is (``--no-access-log``), so that both
sides log the same (nothing). gemstone answers ``"error": null`` beside the result, against the
JSON-RPC 2.0 spec; the benchmark's check accepts that one deviation.

Run: ``python benchmarks/http_apps/gemstone_app.py --port 8000`` (``bench_http.py`` does).
"""

from __future__ import annotations

import argparse
import logging

from gemstone.core import MicroService, exposed_method  # type: ignore[import-untyped] # no hints


class BenchService(MicroService):  # type: ignore[misc] # gemstone ships no type hints
    """One exposed method, ``add``."""

    name = "bench"
    host = "127.0.0.1"
    endpoint = "/api"

    @exposed_method()  # type: ignore[untyped-decorator] # gemstone ships no type hints
    def add(self, a: int, b: int) -> int:
        """The one procedure: the sum of two integers."""
        return a + b


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    BenchService.port = args.port
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    BenchService().start()


if __name__ == "__main__":
    main()
