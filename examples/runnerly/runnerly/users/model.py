"""The users model: plain values, no framework."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    """A registered runner; the database assigns the id of a new one."""

    id: int | None
    email: str
    name: str
