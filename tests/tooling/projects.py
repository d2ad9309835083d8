"""Small projects for ``atoll check`` and ``atoll graph``, written to a directory by a test.

``BAD_SHOP`` breaks each rule once or twice, at lines the tests name; ``CLUB`` is a tiny
system with each thing ``atoll graph`` draws: endpoints, a database, a command taken and
one sent, an event published and consumed, a call between its services.
"""

from __future__ import annotations

import sys
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

BAD_SHOP = {
    "pyproject.toml": """
        [project]
        name = "badshop"
        """,
    "badshop/__init__.py": "",
    "badshop/app.py": """
        import atoll

        from badshop.billing import application as billing
        from badshop.orders import application as orders

        system = atoll.System(orders.service, billing.service, name="shop")
        """,
    "badshop/orders/__init__.py": "",
    "badshop/orders/contracts.py": """
        from dataclasses import dataclass


        @dataclass(frozen=True)
        class PlaceOrder:
            item: str


        @dataclass(frozen=True)
        class OrderPlaced:
            order_id: int


        @dataclass(frozen=True)
        class OrderShipped:
            order_id: int
        """,
    "badshop/orders/model.py": """
        from dataclasses import dataclass

        import atoll


        @dataclass
        class Order:
            id: int
            item: str


        FRAMEWORK = atoll
        """,
    "badshop/orders/domain.py": """
        from __future__ import annotations

        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from badshop.orders.infrastructure import OrderTable


        def describe(table: OrderTable) -> str:
            return str(table)
        """,
    "badshop/orders/application.py": """
        import atoll
        from badshop.orders.contracts import OrderPlaced, OrderShipped, PlaceOrder

        service = atoll.Service("orders")
        service.publishes(OrderPlaced, OrderShipped)


        @service.command(PlaceOrder)
        async def place_order(command: PlaceOrder) -> int:
            return 1


        @service.rpc
        async def cancel_order(order_id: int) -> None:
            return None
        """,
    "badshop/orders/infrastructure.py": """
        import os
        import socket
        import threading


        class OrderTable:
            pass


        threading.Thread(target=int).start()
        """,
    "badshop/orders/journal.py": """
        import os

        with open(os.devnull, "w") as sink:
            sink.write("")
        """,
    "badshop/billing/probe.py": """
        import socket

        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.connect(("127.0.0.1", 9))
        probe.close()
        """,
    "badshop/billing/__init__.py": "",
    "badshop/billing/application.py": """
        from dataclasses import dataclass

        import atoll
        from badshop.orders.contracts import OrderPlaced
        from badshop.orders.model import Order


        @dataclass(frozen=True)
        class PaymentRefunded:
            order_id: int


        service = atoll.Service("billing")


        @service.on(OrderPlaced)
        async def charge(event: OrderPlaced) -> None:
            return None


        @service.on(PaymentRefunded)
        async def refund(event: PaymentRefunded) -> None:
            return None


        def total(orders: list[Order]) -> int:
            return len(orders)
        """,
    "badshop/billing/broken.py": """
        import badshop_missing_dependency
        """,
    "tests/test_shop.py": """
        def test_an_order_placed_is_charged(shop):
            assert shop.place_order("tea")
            assert shop.charge(1)
        """,
}
"""A project that breaks every rule of ``atoll check``."""

CLUB = {
    "pyproject.toml": """
        [project]
        name = "club"
        """,
    "club/__init__.py": "",
    "club/app.py": """
        import atoll

        from club.runs import application as runs
        from club.stats import application as stats

        system = atoll.System(runs.service, stats.service, name="club")
        """,
    "club/runs/__init__.py": "",
    "club/runs/contracts.py": """
        from dataclasses import dataclass


        @dataclass(frozen=True)
        class RecordRun:
            __atoll_message__ = "runs.RecordRun"
            meters: float


        @dataclass(frozen=True)
        class RunRecorded:
            __atoll_message__ = "runs.RunRecorded"
            run_id: int
        """,
    "club/runs/application.py": """
        import atoll
        from club.runs.contracts import RecordRun, RunRecorded

        service = atoll.Service("runs")
        service.publishes(RunRecorded)
        service.database(atoll.Schema())


        @service.command(RecordRun, path="/runs")
        async def record_run(command: RecordRun) -> int:
            return 1


        @service.rpc
        async def weekly_meters(user_id: int) -> float:
            return 0.0
        """,
    "club/stats/__init__.py": "",
    "club/stats/application.py": """
        import atoll
        from club.runs.contracts import RecordRun, RunRecorded

        service = atoll.Service("stats")


        @service.on(RunRecorded)
        async def count_run(event: RunRecorded) -> None:
            return None


        @service.get("/totals/{user_id}")
        async def totals(user_id: int) -> int:
            return 0


        def replayed(meters: float) -> RecordRun:
            return RecordRun(meters)
        """,
    "club/stats/infrastructure.py": """
        class RunsMeters:
            def __init__(self, clients):
                self._clients = clients

            async def of(self, user_id):
                return await self._clients.get("runs").methods.weekly_meters(user_id=user_id)
        """,
}
"""A tiny, clean system with one of each thing ``atoll graph`` draws."""


def write(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path: text) under ``root``; return ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def forget(package: str) -> None:
    """Drop ``package`` and its modules from ``sys.modules``, for the next test to import anew."""
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
