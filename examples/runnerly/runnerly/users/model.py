"""The users model: the user aggregate, and the event it raises; no framework."""

from __future__ import annotations

from dataclasses import dataclass, field

from runnerly.users.contracts import Profile, UserRegistered


@dataclass(frozen=True)
class User:
    """A registered runner; the database assigns the id of a new one.

    ``password_hash`` is what the users service keeps of the password (an Argon2id hash with
    its salt); ``None`` for a runner registered before passwords were, who cannot log in.
    ``events`` holds what the user raised until its unit of work commits them; it is never
    stored, and never shown. Answers show a :class:`Profile`, never a user.
    """

    id: int | None
    email: str
    name: str
    password_hash: str | None = field(default=None, repr=False)
    events: list[object] = field(default_factory=list, compare=False, repr=False)

    def registered(self) -> None:
        """Raise :class:`UserRegistered`, once the user has its id (its repository added it)."""
        if self.id is None:
            raise ValueError("a user is registered once its repository added it and gave it an id")
        self.events.append(UserRegistered(self.id, self.name))

    def profile(self) -> Profile:
        """What others see of the user, once it has its id."""
        if self.id is None:
            raise ValueError("a user has a profile once its repository added it")
        return Profile(self.id, self.email, self.name)


@dataclass
class FailedLogins:
    """The failed logins with one email since its last login, and the lockout they earned.

    Kept for any email a login names, registered or not, so that a lockout tells nothing of
    whether an account has the email. Times are seconds since the epoch. ``version`` counts
    its committed changes, so that two failures at once are both counted.
    """

    email: str
    failures: int = 0
    last_failed: float = 0.0
    locked_until: float = 0.0
    version: int = 0

    def wait(self, now: float) -> float:
        """Seconds until a login with the email is tried again; 0 when it is not locked."""
        return max(0.0, self.locked_until - now)

    def failed(self, now: float, forget_after: float) -> int:
        """Count a failure at ``now``: the count starts again ``forget_after`` s after the last.

        Returns:
            The failures in a row, this one counted.
        """
        if now - self.last_failed >= forget_after:
            self.failures = 0
        self.failures += 1
        self.last_failed = now
        return self.failures

    def lock(self, until: float) -> None:
        """Refuse every login with the email until ``until``, its password right or wrong."""
        self.locked_until = until
