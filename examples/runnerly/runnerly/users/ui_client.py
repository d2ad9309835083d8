"""Calls service users from its components (written by atoll; do not edit).

Made by: atoll frontends client runnerly.app:system users
"""


class UsersClient:
    """Service users's JSON-RPC methods, called through a component's element.

    Args:
        host: the element, ``self.host`` in a component.
    """

    def __init__(self, host: object) -> None:
        self.host = host

    async def get_profile(self, user_id: int) -> object:
        """The runner with this id: the caller herself, unless she is an admin or a service.

        Args:
            user_id: int.

        Returns: Profile.
        """
        params = {"user_id": user_id}
        return await self.host.call("get_profile", params)

    async def list_users(self) -> object:
        """Every runner, by id: for admins.

        Returns: list[Profile].
        """
        params = {}
        return await self.host.call("list_users", params)

    async def log_in(self, email: str, password: str) -> object:
        """Log in with an email and a password: an access token and a refresh token.

        Args:
            email: str.
            password: str.

        Returns: SessionTokens.
        """
        params = {"email": email, "password": password}
        return await self.host.call("log_in", params)

    async def log_out(self, refresh_token: str) -> None:
        """End the session of a refresh token; its access tokens live until they expire.

        Args:
            refresh_token: str.

        Returns: None.
        """
        params = {"refresh_token": refresh_token}
        return await self.host.call("log_out", params)

    async def refresh_session(self, refresh_token: str) -> object:
        """New tokens for a refresh token, which is spent: send each one once.

        Args:
            refresh_token: str.

        Returns: SessionTokens.
        """
        params = {"refresh_token": refresh_token}
        return await self.host.call("refresh_session", params)

    async def register_user(self, email: str, name: str, password: str) -> object:
        """Register a runner; the email must not be registered yet.

        Args:
            email: str.
            name: str.
            password: str.

        Returns: Profile.
        """
        params = {"email": email, "name": name, "password": password}
        return await self.host.call("register_user", params)
