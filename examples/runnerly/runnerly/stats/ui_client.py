"""Calls service stats from its components (written by atoll; do not edit).

Made by: atoll frontends client runnerly.app:system stats
"""


class StatsClient:
    """Service stats's JSON-RPC methods, called through a component's element.

    Args:
        host: the element, ``self.host`` in a component.
    """

    def __init__(self, host: object) -> None:
        self.host = host

    async def weekly_totals(self, user_id: int) -> object:
        """The caller's weekly totals, oldest week first, as the read model has them.

        Args:
            user_id: int.

        Returns: list[WeeklyTotal].
        """
        params = {"user_id": user_id}
        return await self.host.call("weekly_totals", params)
