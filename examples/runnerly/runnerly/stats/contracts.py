"""What the stats service publishes: its error codes, and the change of a weekly total.

The one module of ``stats`` that another service may import (an import-linter contract keeps
it so). ``stats`` keeps a read model of the runs ``runs`` publishes, and publishes each change
of it (:class:`WeeklyTotalChanged`), which its runners' pages are shown as it happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

__all__ = ["UNKNOWN_RUNNER", "WeeklyTotalChanged"]

UNKNOWN_RUNNER = -32004
"""The JSON-RPC code of "no runner with this id" (HTTP 404): the weekly totals of a runner
other than the caller, which are no one else's to see, are answered so."""


@dataclass(frozen=True)
class WeeklyTotalChanged:
    """A runner's total of a week, as it is now that a run of hers was counted.

    ``runs`` 0 when the week's last run was deleted: the week has no total any more.
    """

    __atoll_message__: ClassVar[str] = "stats.WeeklyTotalChanged"

    user_id: int
    week: date
    meters: float
    runs: int
