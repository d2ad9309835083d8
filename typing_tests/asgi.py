# The ASGI aliases of atoll.endpoints.http.types, as an app written without atoll meets them.
# Type-checked by mypy --strict, never run. Each `type: ignore[code]` marks a line mypy must
# reject: with warn_unused_ignores (part of --strict), mypy fails if the error goes away.
import atoll
from atoll.endpoints.http.types import ASGIApp, Message, Receive, Scope, Send


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    message: Message = await receive()
    status = 200 if scope["type"] == "http" else 404
    await send({"type": "http.response.start", "status": status, "echo": message["type"]})


def blocking_app(scope: Scope, receive: Receive, send: Send) -> None: ...


async def app_without_send(scope: Scope, receive: Receive) -> None: ...


# A plain async function of scope, receive and send serves as an app, and can be mounted.
asgi_app: ASGIApp = app
atoll.Service("legacy").mount("/legacy", app)

# A function that cannot be awaited, or that takes no send channel, is not an app.
blocking: ASGIApp = blocking_app  # type: ignore[assignment]
without_send: ASGIApp = app_without_send  # type: ignore[assignment]
atoll.Service("legacy").mount("/legacy", blocking_app)  # type: ignore[arg-type]
