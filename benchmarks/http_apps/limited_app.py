"""The app of ``bench_limits.py`` over HTTP: the same route with and without a rate limit."""

import atoll

service = atoll.Service("runs")


@service.get("/runs/{run_id}")
async def plain(run_id: int) -> dict[str, int]:
    return {"run_id": run_id}


@service.get("/limited/{run_id}", limit=atoll.limit("1000000/second", per="ip"))
async def limited(run_id: int) -> dict[str, int]:
    return {"run_id": run_id}
