"""The users model: the user aggregate, and the event it raises; no framework."""

from __future__ import annotations

from dataclasses import dataclass, field

from runnerly.users.contracts import UserRegistered


@dataclass(frozen=True)
class User:
    """A registered runner; the database assigns the id of a new one.

    ``events`` holds what the user raised until its unit of work commits them; it is never
    stored, and never shown.
    """

    id: int | None
    email: str
    name: str
    events: list[object] = field(default_factory=list, compare=False, repr=False)

    def registered(self) -> None:
        """Raise :class:`UserRegistered`, once the user has its id (its repository added it)."""
        if self.id is None:
            raise ValueError("a user is registered once its repository added it and gave it an id")
        self.events.append(UserRegistered(self.id, self.name))
