"""A small service for the access log tests: one route, one failing route, one method."""

from __future__ import annotations

import atoll

service = atoll.Service("shop")


@service.get("/items/{item_id}", public=True)
async def get_item(item_id: int) -> dict[str, int]:
    """One item."""
    return {"id": item_id}


@service.get("/crash", public=True)
async def crash() -> None:
    """Fails, as a bug would."""
    raise RuntimeError("broken")


@service.rpc(public=True)
async def double(value: int) -> int:
    """Twice ``value``."""
    return 2 * value
