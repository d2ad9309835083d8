import collections.abc
import typing

from atoll.endpoints import types


async def app(scope: types.Scope, receive: types.Receive, send: types.Send) -> None:
    message: types.Message = await receive()
    await send({"type": "http.response.start", "status": 200, "echo": message["type"]})


def test_scope_and_message_are_mutable_mappings_of_str():
    assert typing.get_origin(types.Scope) is collections.abc.MutableMapping
    assert typing.get_args(types.Message)[0] is str


def test_an_asgi_app_is_a_callable_of_scope_receive_and_send():
    assert typing.get_origin(types.ASGIApp) is collections.abc.Callable
    assert typing.get_args(types.ASGIApp)[0] == [types.Scope, types.Receive, types.Send]


async def test_a_plain_async_function_serves_as_an_app():
    sent = []

    async def receive():
        return {"type": "http.request"}

    async def send(message):
        sent.append(message)

    asgi_app: types.ASGIApp = app
    await asgi_app({"type": "http"}, receive, send)
    assert sent == [{"type": "http.response.start", "status": 200, "echo": "http.request"}]
