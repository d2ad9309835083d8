"""Calls service greeter from its components (written by atoll; do not edit).

Made by: atoll frontends client mything_service:greeter greeter
"""


class GreeterClient:
    """Service greeter's JSON-RPC methods, called through a component's element.

    Args:
        host: the element, ``self.host`` in a component.
    """

    def __init__(self, host: object) -> None:
        self.host = host

    async def hello(self, name: str, punctuation: str | None = None) -> str:
        """Greet someone by name.

        Args:
            name: str.
            punctuation: str, optional.

        Returns: str.
        """
        params = {"name": name}
        if punctuation is not None:
            params["punctuation"] = punctuation
        return await self.host.call("hello", params)
