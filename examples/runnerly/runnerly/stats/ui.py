"""The stats service's components: a runner's weekly totals as a bar chart.

The chart shows the weeks it is given, as ``weekly_totals`` answers them; in the browser it
asks the service for them when the page has a token, and subscribes to their changes
(``weeklyTotalChanged``, over GraphQL): a run recorded, here or anywhere, shows once the
service has counted its event, as the change arrives.

Written in the Python Transcrypt compiles rightly (``atoll.frontends.lint`` passes it): the
browser runs this module too, so it imports no other layer of the service (dataclasses do not
compile) and formats numbers with integer arithmetic, which prints alike in both languages
(JavaScript prints ``5.0`` as ``5``).
"""

from atoll.frontends.component import CallError, Component
from atoll.frontends.elements import h
from runnerly.stats.ui_client import StatsClient

__all__ = ["WeeklyChart"]

SESSION = "runnerly-session"
"""What the page announces when a runner logs in (``users``' login form)."""
CHANGES = "subscription { weeklyTotalChanged { week meters runs } }"
"""The changes of the runner's totals, as the service counts her runs' events."""

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
METERS_PER_TENTH = {"km": 100, "mi": 160.9344}
"""Meters in a tenth of each unit the chart shows."""
UNIT_NAMES = {"km": "Kilometres", "mi": "Miles"}

BAR = 36
"""A bar's width, in the chart's units."""
GAP = 14
TOP = 22
"""Room above the tallest bar, for its label."""
PLOT = 120
"""The tallest bar's height."""
BOTTOM = 26
"""Room below the bars, for the weeks' labels."""
LABEL_RISE = 6
LABEL_DROP = 17
TENTHS = 10

PALETTE = """
:host {
  --ink: var(--runnerly-ink, #1f2a37);
  --muted: var(--runnerly-muted, #5b6b7c);
  --accent: var(--runnerly-accent, #0f766e);
  --accent-soft: var(--runnerly-accent-soft, #d5efeb);
  --surface: var(--runnerly-surface, #ffffff);
  --line: var(--runnerly-line, #d8e0e8);
  display: block;
  color: var(--ink);
  font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
}
"""


def tenths_of(meters: object, unit: str) -> int:
    """``meters`` in tenths of ``unit``, rounded to the nearest: 12345 m is 123 tenths of a km."""
    return int((float(meters) + METERS_PER_TENTH[unit] / 2) // METERS_PER_TENTH[unit])


def one_decimal(tenths: int) -> str:
    """Tenths as a number with one decimal, ``123`` as ``12.3``, alike in CPython and JavaScript."""
    return str(tenths // TENTHS) + "." + str(tenths % TENTHS)


def day_and_month(iso: str) -> str:
    """The day and month of an ISO date (``2026-01-05``) as ``5 Jan``."""
    return str(int(iso[8:10])) + " " + MONTHS[int(iso[5:7]) - 1]


class WeeklyChart(Component):
    """``<stats-weekly-chart>``: one bar per week, as tall as its distance beside the longest.

    Props: ``weeks``, the weekly totals (oldest first, as the service answers them), and
    ``unit``, ``km`` (the default) or ``mi``.
    """

    tag = "stats-weekly-chart"
    observed = ["weeks", "unit"]  # noqa: RUF012 - a declaration, never changed
    styles = (
        PALETTE
        + """
figure { margin: 0; padding: 16px; background: var(--surface);
  border: 1px solid var(--line); border-radius: 12px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 8px; }
svg { display: block; width: 100%; max-width: 640px; height: auto; max-height: 240px; }
.bar { fill: var(--accent); }
.bar:hover { fill: var(--ink); }
.axis { stroke: var(--line); stroke-width: 1; }
.value { fill: var(--ink); font-size: 11px; font-weight: 600; }
.week { fill: var(--muted); font-size: 11px; }
.empty { margin: 0; padding: 24px 16px; color: var(--muted); text-align: center;
  background: var(--accent-soft); border-radius: 12px; }
"""
    )

    def initial_state(self, props: dict[str, object]) -> dict[str, object]:
        """Nothing asked of the service yet: ``loaded`` is None until it answers."""
        del props
        return {"loaded": None, "error": ""}

    def view(self, props: dict[str, object], state: dict[str, object]) -> object:
        """The chart of the weeks, or a line saying there is nothing to chart yet.

        The weeks are those the service answered, once it has; ``props["weeks"]`` until then.
        """
        if state["error"]:
            return h("p", {"class_name": "empty", "role": "alert"}, state["error"])
        weeks = state["loaded"] if state["loaded"] is not None else props["weeks"] or []
        if len(weeks) == 0:
            return h("p", {"class_name": "empty"}, "No runs yet: your weekly totals show here.")
        # None == "mi" throws once compiled (its __eq__ looks into None): test it first
        unit = "mi" if props["unit"] is not None and props["unit"] == "mi" else "km"
        tenths = [tenths_of(week["meters"], unit) for week in weeks]
        longest = max(tenths)
        total = sum(tenths)
        count = sum([int(week["runs"]) for week in weeks])
        bars = []
        said = []
        for index in range(len(weeks)):
            week = weeks[index]
            height = (tenths[index] * PLOT) // longest if longest > 0 else 0
            left = GAP + index * (BAR + GAP)
            middle = left + BAR // 2
            shown = one_decimal(tenths[index])
            day = day_and_month(week["week"])
            runs = int(week["runs"])
            told = (
                "Week of "
                + day
                + " "
                + week["week"][0:4]
                + ": "
                + shown
                + " "
                + unit
                + " in "
                + str(runs)
                + (" run" if runs == 1 else " runs")
            )
            said.append(day + ", " + shown + " " + unit)
            bars.append(
                h(
                    "g",
                    {"key": week["week"]},
                    h(
                        "rect",
                        {
                            "class_name": "bar",
                            "x": left,
                            "y": TOP + PLOT - height,
                            "width": BAR,
                            "height": height,
                            "rx": 3,
                        },
                        h("title", None, told),
                    ),
                    h(
                        "text",
                        {
                            "class_name": "value",
                            "x": middle,
                            "y": TOP + PLOT - height - LABEL_RISE,
                            "text_anchor": "middle",
                        },
                        shown,
                    ),
                    h(
                        "text",
                        {
                            "class_name": "week",
                            "x": middle,
                            "y": TOP + PLOT + LABEL_DROP,
                            "text_anchor": "middle",
                        },
                        day,
                    ),
                )
            )
        width = GAP + len(weeks) * (BAR + GAP)
        height = TOP + PLOT + BOTTOM
        title = UNIT_NAMES[unit] + " run per week"
        return h(
            "figure",
            None,
            h(
                "svg",
                {
                    "viewBox": "0 0 " + str(width) + " " + str(height),
                    "role": "img",
                    "aria_label": title + ": " + "; ".join(said),
                },
                h("title", None, title),
                h(
                    "line",
                    {
                        "class_name": "axis",
                        "x1": 0,
                        "y1": TOP + PLOT,
                        "x2": width,
                        "y2": TOP + PLOT,
                    },
                ),
                bars,
            ),
            h(
                "figcaption",
                None,
                one_decimal(total),
                " ",
                unit,
                " in ",
                count,
                " run" if count == 1 else " runs",
                " over ",
                len(weeks),
                " week" if len(weeks) == 1 else " weeks",
            ),
        )

    def connected(self) -> None:
        """Follow the totals of the runner logged in, and of the next one who logs in."""
        self.asked = 0
        self.following = None
        # A run recorded on the page is not counted yet: its change comes by the subscription.
        self.stops = [self.host.listen(SESSION, self.follow)]
        self.follow(None)

    def disconnected(self) -> None:
        """Stop listening to the page and to the service."""
        for stop in self.stops:
            stop()
        self.unfollow()

    def follow(self, detail: object) -> None:
        """Ask for the totals of the runner the page's token names, and follow their changes.

        Asked for again each time the subscription starts again (the changes of a moment
        without it are not told).
        """
        del detail
        self.unfollow()
        self.reload(None)
        if self.host.claims() is None:
            return
        self.following = self.host.subscribe(CHANGES, {}, self.reload, self.reload)

    def unfollow(self) -> None:
        """Stop following the totals."""
        if self.following is not None:
            self.following()
            self.following = None

    async def reload(self, detail: object = None) -> None:
        """Ask the service for the weekly totals of the runner the page's token names.

        Only the last answer asked for is shown: an earlier one, come later, is older.
        """
        del detail
        claims = self.host.claims()
        if claims is None:
            return
        self.asked += 1
        asked = self.asked
        try:
            weeks = await StatsClient(self.host).weekly_totals(int(claims["sub"]))
        except CallError as error:
            if asked == self.asked:
                self.set_state({"error": "Your weekly totals could not be read: " + str(error)})
            return
        if asked == self.asked:
            self.set_state({"loaded": weeks, "error": ""})
