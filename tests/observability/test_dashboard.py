"""The Grafana dashboard in deploy/: every metric its queries read is one a service serves."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from atoll.testing import run
from tests.observability.serving import shop_and_mail

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "atoll-fleet.json"

# What a PromQL expression holds besides metric names: its functions and keywords, the label
# sets of selectors and of by(...), ranges, strings and numbers.
_NOT_METRICS = re.compile(
    r'\{[^}]*\}|\b(?:by|without)\s*\([^)]*\)|\[[^\]]*\]|"[^"]*"|\d+(?:\.\d+)?'
)
_FUNCTIONS = {"sum", "rate", "irate", "increase", "histogram_quantile", "avg", "max", "min"}


def queried(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", _NOT_METRICS.sub(" ", expr)))
    return names - _FUNCTIONS


def test_the_dashboard_reads_its_metrics_from_what_services_serve(tmp_path):
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert exprs, "the dashboard has queries"
    wanted = set().union(*map(queried, exprs))
    assert "http_server_request_duration_seconds_bucket" in wanted  # the parsing finds them
    assert not {"sum", "by", "le", "job"} & wanted

    served = asyncio.run(scraped(f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"))
    missing = sorted(wanted - served)
    assert not missing, f"the dashboard reads metrics no service serves: {missing}"


async def scraped(database: str) -> set[str]:
    """The sample names two services serve once they have answered, called and handled.

    ``shop`` keeps its events in ``database``: a database with a pool of connections.
    """
    outcomes: dict[str, int] = {}
    shop, mail, done = shop_and_mail(outcomes)
    flags = ["--broker-url", f"memory://dashboard-{uuid.uuid4().hex}", "--metrics"]
    flags += ["--broker-retry-backoff", "0.01", "--broker-deliveries", "2"]
    async with (
        run(shop, argv=[*flags, "--db-url", database]) as shop_app,
        run(mail, argv=flags) as mail_app,
    ):
        await shop_app.client.get("/nowhere")  # a 404, counted under no route
        call = {"jsonrpc": "2.0", "method": "order", "params": {"item": "pen"}, "id": 1}
        await shop_app.client.post("/rpc", json=call)
        await shop_app.client.post("/rpc", json={**call, "method": "nope"})  # an error
        assert await shop_app.rpc.methods.ask_mail() == "pong"  # a call to another service
        async with asyncio.timeout(10):
            await done.wait()
        texts = [(await app.client.get("/metrics")).text for app in (shop_app, mail_app)]
    return {
        sample.name
        for text in texts
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
