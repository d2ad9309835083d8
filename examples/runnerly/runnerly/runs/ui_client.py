"""Calls service runs from its components (written by atoll; do not edit).

Made by: atoll frontends client runnerly.app:system runs
"""


class RunsClient:
    """Service runs's JSON-RPC methods, called through a component's element.

    Args:
        host: the element, ``self.host`` in a component.
    """

    def __init__(self, host: object) -> None:
        self.host = host

    async def change_run(
        self,
        run_id: int,
        meters: float | None = None,
        seconds: int | None = None,
        notes: str | None = None,
    ) -> object:
        """Change the distance, time or notes of a run of the caller's; RunChanged goes out.

        Args:
            run_id: int.
            meters: float | None, optional.
            seconds: int | None, optional.
            notes: str | None, optional.

        Returns: Run.
        """
        params = {"run_id": run_id}
        if meters is not None:
            params["meters"] = meters
        if seconds is not None:
            params["seconds"] = seconds
        if notes is not None:
            params["notes"] = notes
        return await self.host.call("change_run", params)

    async def delete_run(self, run_id: int) -> None:
        """Delete a run of the caller's; RunDeleted goes out.

        Args:
            run_id: int.

        Returns: None.
        """
        params = {"run_id": run_id}
        return await self.host.call("delete_run", params)

    async def get_run(self, run_id: int) -> object:
        """A run of the caller's.

        Args:
            run_id: int.

        Returns: Run.
        """
        params = {"run_id": run_id}
        return await self.host.call("get_run", params)

    async def record_run(
        self,
        meters: float,
        seconds: int,
        started_at: object,
        notes: str | None = None,
    ) -> object:
        """Record a run of the caller's; RunRecorded goes out through the outbox.

        Args:
            meters: float.
            seconds: int.
            started_at: datetime.
            notes: str, optional.

        Returns: Run.
        """
        params = {"meters": meters, "seconds": seconds, "started_at": started_at}
        if notes is not None:
            params["notes"] = notes
        return await self.host.call("record_run", params)

    async def runs(
        self,
        user_id: int,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> object:
        """The caller's runs, by when they started, a page at a time (20 unless asked).

        Args:
            user_id: int.
            first: int | None, optional.
            after: str | None, optional.
            last: int | None, optional.
            before: str | None, optional.

        Returns: Page[Run].
        """
        params = {"user_id": user_id}
        if first is not None:
            params["first"] = first
        if after is not None:
            params["after"] = after
        if last is not None:
            params["last"] = last
        if before is not None:
            params["before"] = before
        return await self.host.call("runs", params)

    async def weekly_meters(self, user_id: int, day: object = None) -> float:
        """Call weekly_meters.

        The meters the caller ran in the week (Monday to Sunday) of ``day``, this week by default.

        Args:
            user_id: int.
            day: datetime | None, optional.

        Returns: float.
        """
        params = {"user_id": user_id}
        if day is not None:
            params["day"] = day
        return await self.host.call("weekly_meters", params)
