"""The three HTTP scenarios on FastAPI, written the way its documentation shows.

Bodies are pydantic models validated by FastAPI and answers are returned as models
(``response_model``), so FastAPI validates and serializes them itself. FastAPI has no
JSON-RPC of its own: the ``/rpc`` endpoint validates the envelope and the parameters with
pydantic models, the usual way to write one on FastAPI.

Served by ``uvicorn fastapi_app:app --app-dir benchmarks/http_apps`` (see ``bench_http.py``).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Item(BaseModel):
    """An item as the API answers it."""

    id: int
    name: str
    price: float
    tags: list[str] = Field(default_factory=list)


class NewItem(BaseModel):
    """The typed body of ``POST /items``."""

    name: str
    price: float
    tags: list[str] = Field(default_factory=list)


class RpcRequest(BaseModel):
    """A JSON-RPC 2.0 request object; ``id`` is unset for a notification."""

    jsonrpc: Literal["2.0"]
    method: str
    params: dict[str, Any] | list[Any] = Field(default_factory=dict)
    id: int | str | None = None


class AddParams(BaseModel):
    """The parameters of ``add``."""

    model_config = ConfigDict(extra="forbid")

    a: int
    b: int


app = FastAPI()


@app.get("/items/{item_id}")
async def get_item(item_id: int) -> Item:
    """``GET /items/{item_id}``."""
    return Item(id=item_id, name=f"item {item_id}", price=9.99)


@app.post("/items", status_code=201)
async def add_item(item: NewItem) -> Item:
    """``POST /items`` with a typed body."""
    return Item(id=1, name=item.name, price=item.price, tags=item.tags)


def rpc_error(code: int, message: str, id_: int | str | None) -> dict[str, Any]:
    """A JSON-RPC error response."""
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id_}


@app.post("/rpc", response_model=None)
async def rpc(request: RpcRequest) -> dict[str, Any] | Response:
    """``POST /rpc``: one JSON-RPC 2.0 call (FastAPI answers 422 to a malformed envelope)."""
    if request.method != "add":
        answer = rpc_error(-32601, f"Method not found: {request.method}", request.id)
    elif isinstance(request.params, list):
        answer = rpc_error(-32602, "Invalid params: add takes named params a and b", request.id)
    else:
        try:
            params = AddParams.model_validate(request.params)
        except ValidationError as exc:
            answer = rpc_error(-32602, f"Invalid params: {exc}", request.id)
        else:
            answer = {"jsonrpc": "2.0", "result": params.a + params.b, "id": request.id}
    if "id" not in request.model_fields_set:
        return Response(status_code=204)
    return answer
