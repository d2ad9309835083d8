"""The users model: plain values, no framework."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    """A registered runner."""

    id: int
    email: str
    name: str
