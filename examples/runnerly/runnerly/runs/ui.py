"""The runs service's components: a runner's runs, and the form recording one.

:class:`RunList` shows the runs it is given (``Run`` objects in JSON, as the service answers
them: ``started_at``, ``meters``, ``seconds``, ``notes``); in the browser it asks the service
for the runner's runs, when the page has a token and again when one is recorded.
:class:`RecordRunForm` checks what is typed and records the run, announcing it to the page
(``runnerly-run-recorded``) for the other components to update.

Written in the Python Transcrypt compiles rightly (``atoll.frontends.lint`` passes it): the
browser runs this module too, so it imports no other layer of the service (dataclasses do not
compile) and computes with integers, which print alike in both languages (JavaScript prints
``5.0`` as ``5``, and ``int("1e3")`` is 1000 there).
"""

from atoll.frontends.component import CallError, Component
from atoll.frontends.elements import h
from runnerly.runs.ui_client import RunsClient

__all__ = ["RECORDED", "SESSION", "RecordRunForm", "RunList"]

SESSION = "runnerly-session"
"""What the page announces when a runner logs in (``users``' login form)."""
RECORDED = "runnerly-run-recorded"
"""What the page announces when a run is recorded, with the run."""
SHOWN = 20
"""The runs the list asks for: the newest."""

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DIGITS = "0123456789"
TENTHS = 10
METERS_PER_TENTH = 100
METERS_PER_KM = 1000
MINUTE = 60
HOUR = 3600
LONGEST_KM = 1000
"""The longest run the service records (``runs.domain.LONGEST_RUN``), in kilometres."""
LONGEST_DIGITS = 4
"""The most digits a distance's kilometres or a time's part is read with."""
TIME_PARTS = 3
"""hours:minutes:seconds."""
DECIMAL_PARTS = 2
"""kilometres.fraction."""

PALETTE = """
:host {
  --ink: var(--runnerly-ink, #1f2a37);
  --muted: var(--runnerly-muted, #5b6b7c);
  --accent: var(--runnerly-accent, #0f766e);
  --accent-soft: var(--runnerly-accent-soft, #d5efeb);
  --surface: var(--runnerly-surface, #ffffff);
  --line: var(--runnerly-line, #d8e0e8);
  --error: var(--runnerly-error, #b42318);
  display: block;
  color: var(--ink);
  font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
}
"""


def two_digits(number: int) -> str:
    """``number`` (0 to 99) in two digits: ``5`` as ``05``."""
    return ("0" if number < TENTHS else "") + str(number)


def distance(meters: object) -> str:
    """``meters`` as kilometres with one decimal, rounded: 10549 m as ``10.5 km``."""
    tenths = int((float(meters) + METERS_PER_TENTH // 2) // METERS_PER_TENTH)
    return str(tenths // TENTHS) + "." + str(tenths % TENTHS) + " km"


def duration(seconds: object) -> str:
    """``seconds`` as ``m:ss``, or ``h:mm:ss`` from an hour: 3150 as ``52:30``."""
    whole = int(seconds)
    minutes = (whole % HOUR) // MINUTE
    rest = two_digits(whole % MINUTE)
    if whole < HOUR:
        return str(minutes) + ":" + rest
    return str(whole // HOUR) + ":" + two_digits(minutes) + ":" + rest


def pace(meters: object, seconds: object) -> str:
    """The time a kilometre took, rounded to the second: ``5:00 /km``; ``-`` without distance."""
    whole = int(meters)
    if whole <= 0:
        return "-"
    per_km = (int(seconds) * METERS_PER_KM + whole // 2) // whole
    return str(per_km // MINUTE) + ":" + two_digits(per_km % MINUTE) + " /km"


def day(iso: str) -> str:
    """The date of an ISO moment (``2026-01-05T07:30:00+01:00``) as ``5 Jan 2026``."""
    return str(int(iso[8:10])) + " " + MONTHS[int(iso[5:7]) - 1] + " " + iso[0:4]


def started(run: dict[str, object]) -> object:
    """When ``run`` started, as the service wrote it: what the list orders runs by."""
    return run["started_at"]


def all_digits(text: str) -> bool:
    """Whether ``text`` is one to :data:`LONGEST_DIGITS` ASCII digits (no sign, no space)."""
    if len(text) == 0 or len(text) > LONGEST_DIGITS:
        return False
    return all(char in DIGITS for char in text)


def meters_typed(text: str) -> int | None:
    """The meters of a distance typed in kilometres (``10.5``, ``10,5``, ``5``); ``None`` if not.

    Read with integer arithmetic to the metre (three decimals at most).
    """
    parts = text.strip().replace(",", ".").split(".")
    if len(parts) > DECIMAL_PARTS:
        return None
    whole = parts[0] if len(parts[0]) > 0 else "0"
    fraction = parts[1] if len(parts) == DECIMAL_PARTS else ""
    if len(parts[0]) == 0 and len(fraction) == 0:
        return None
    if not all_digits(whole) or len(fraction) > len("000"):
        return None
    if len(fraction) > 0 and not all_digits(fraction):
        return None
    return int(whole) * METERS_PER_KM + int((fraction + "000")[0:3])


def seconds_typed(text: str) -> int | None:
    """The seconds of a time typed as ``mm:ss``, ``h:mm:ss`` or minutes alone; ``None`` if not."""
    parts = text.strip().split(":")
    if len(parts) > TIME_PARTS:
        return None
    total = 0
    for index in range(len(parts)):
        part = parts[index]
        if not all_digits(part):
            return None
        if index > 0 and (len(part) != len("00") or int(part) >= MINUTE):
            return None
        total = total * MINUTE + int(part)
    return total * MINUTE if len(parts) == 1 else total


class RunList(Component):
    """``<runs-run-list>``: a runner's runs, newest first, with distance, time and pace.

    Props: ``runs``, the runs as the service answers them (in any order).
    """

    tag = "runs-run-list"
    observed = ["runs"]  # noqa: RUF012 - a declaration, never changed
    styles = (
        PALETTE
        + """
table { width: 100%; border-collapse: collapse; background: var(--surface);
  border: 1px solid var(--line); border-radius: 12px; overflow: hidden; }
caption { text-align: left; font-weight: 600; padding: 0 0 8px; }
th, td { padding: 8px 12px; text-align: left; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-size: 13px; font-weight: 500; background: var(--accent-soft); }
td.number { font-variant-numeric: tabular-nums; text-align: right; }
th.number { text-align: right; }
tr:last-child td { border-bottom: none; }
.notes { color: var(--muted); font-size: 13px; }
.empty { margin: 0; padding: 24px 16px; color: var(--muted); text-align: center;
  background: var(--accent-soft); border-radius: 12px; }
"""
    )

    def initial_state(self, props: dict[str, object]) -> dict[str, object]:
        """Nothing asked of the service yet: ``loaded`` is None until it answers."""
        del props
        return {"loaded": None, "error": ""}

    def view(self, props: dict[str, object], state: dict[str, object]) -> object:
        """A table of the runs, newest first, or a line saying there is none yet.

        The runs are those the service answered, once it has; ``props["runs"]`` until then.
        """
        if state["error"]:
            return h("p", {"class_name": "empty", "role": "alert"}, state["error"])
        runs = state["loaded"] if state["loaded"] is not None else props["runs"] or []
        if len(runs) == 0:
            return h("p", {"class_name": "empty"}, "No runs yet: record your first one.")
        newest_first = sorted(runs, key=started, reverse=True)
        return h(
            "table",
            None,
            h("caption", None, "Your runs"),
            h(
                "thead",
                None,
                h(
                    "tr",
                    None,
                    h("th", {"scope": "col"}, "Date"),
                    h("th", {"scope": "col", "class_name": "number"}, "Distance"),
                    h("th", {"scope": "col", "class_name": "number"}, "Time"),
                    h("th", {"scope": "col", "class_name": "number"}, "Pace"),
                    h("th", {"scope": "col"}, "Notes"),
                ),
            ),
            h("tbody", None, [self.row(run) for run in newest_first]),
        )

    def connected(self) -> None:
        """Ask for the runs now, and again when a runner logs in or records one."""
        self.asked = 0
        self.stops = [
            self.host.listen(SESSION, self.reload),
            self.host.listen(RECORDED, self.reload),
        ]
        self.reload(None)

    def disconnected(self) -> None:
        """Stop listening to the page."""
        for stop in self.stops:
            stop()

    async def reload(self, detail: object) -> None:
        """Ask the service for the newest runs of the runner the page's token names.

        Only the last answer asked for is shown: an earlier one, come later, is older.
        """
        del detail
        claims = self.host.claims()
        if claims is None:
            return
        self.asked += 1
        asked = self.asked
        try:
            page = await RunsClient(self.host).runs(int(claims["sub"]), first=SHOWN)
        except CallError as error:
            if asked == self.asked:
                self.set_state({"error": "Your runs could not be read: " + str(error)})
            return
        if asked == self.asked:
            self.set_state({"loaded": page["items"], "error": ""})

    def row(self, run: dict[str, object]) -> object:
        """The table's row of one run."""
        return h(
            "tr",
            {"key": run["id"]},
            h("td", None, h("time", {"datetime": run["started_at"]}, day(run["started_at"]))),
            h("td", {"class_name": "number"}, distance(run["meters"])),
            h("td", {"class_name": "number"}, duration(run["seconds"])),
            h("td", {"class_name": "number"}, pace(run["meters"], run["seconds"])),
            h("td", {"class_name": "notes"}, run["notes"] or ""),
        )


class RecordRunForm(Component):
    """``<runs-record-form>``: a run's distance and time, checked as it is submitted.

    What is typed is kept in the state (``distance``, ``duration``); a submit checks it and
    keeps the run's ``meters`` and ``seconds``, or an ``error`` saying what to type; in the
    browser it then records the run (``sent`` when the service has it) and announces it.
    """

    tag = "runs-record-form"
    styles = (
        PALETTE
        + """
form { display: grid; gap: 12px; padding: 16px; max-width: 360px; background: var(--surface);
  border: 1px solid var(--line); border-radius: 12px; }
label { display: grid; gap: 4px; font-size: 13px; color: var(--muted); }
input { font: inherit; color: var(--ink); padding: 8px 10px; border: 1px solid var(--line);
  border-radius: 8px; }
input:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
button { font: inherit; font-weight: 600; color: var(--surface); background: var(--accent);
  border: none; border-radius: 8px; padding: 10px 14px; cursor: pointer; }
.error { margin: 0; color: var(--error); }
.ready { margin: 0; color: var(--accent); }
"""
    )

    def initial_state(self, props: dict[str, object]) -> dict[str, object]:
        """Nothing typed, nothing checked."""
        del props
        return {
            "distance": "",
            "duration": "",
            "error": "",
            "meters": None,
            "seconds": None,
            "sending": False,
            "sent": "",
        }

    def view(self, props: dict[str, object], state: dict[str, object]) -> object:
        """The form, with the error of the last submit or the run it checked."""
        del props
        said = None
        if state["error"]:
            said = h("p", {"class_name": "error", "role": "alert"}, state["error"])
        elif state["sent"]:
            said = h("p", {"class_name": "ready", "role": "status"}, state["sent"])
        elif state["sending"]:
            said = h("p", {"class_name": "ready", "role": "status"}, "Recording...")
        elif state["meters"] is not None:
            said = h(
                "p",
                {"class_name": "ready", "role": "status"},
                "Ready to record ",
                distance(state["meters"]),
                " in ",
                duration(state["seconds"]),
                " (",
                pace(state["meters"], state["seconds"]),
                ").",
            )
        return h(
            "form",
            {"on_submit": self.submitted, "novalidate": True, "aria_label": "Record a run"},
            h(
                "label",
                None,
                "Distance (km)",
                h(
                    "input",
                    {
                        "name": "distance",
                        "inputmode": "decimal",
                        "placeholder": "10.5",
                        "value": state["distance"],
                        "on_input": self.distance_typed,
                    },
                ),
            ),
            h(
                "label",
                None,
                "Time (mm:ss or h:mm:ss)",
                h(
                    "input",
                    {
                        "name": "duration",
                        "inputmode": "numeric",
                        "placeholder": "52:30",
                        "value": state["duration"],
                        "on_input": self.duration_typed,
                    },
                ),
            ),
            h("button", {"type": "submit", "disabled": state["sending"]}, "Record run"),
            said,
        )

    def distance_typed(self, event: object) -> None:
        """Keep the distance typed."""
        self.set_state({"distance": event.target.value})

    def duration_typed(self, event: object) -> None:
        """Keep the time typed."""
        self.set_state({"duration": event.target.value})

    def submitted(self, event: object) -> None:
        """Check what was typed: keep the run's meters and seconds, or say what to type.

        ``event`` is the browser's submit event, whose default (leaving the page) is
        prevented; ``None`` from a test.
        """
        if event is not None:
            event.preventDefault()
        meters = meters_typed(self.state["distance"])
        seconds = seconds_typed(self.state["duration"])
        error = ""
        if meters is None or meters <= 0:
            error = "Type the distance in kilometres, such as 10.5."
        elif meters > LONGEST_KM * METERS_PER_KM:
            error = "A run covers at most " + str(LONGEST_KM) + " km."
        elif seconds is None or seconds <= 0:
            error = "Type the time as minutes:seconds (52:30) or hours:minutes:seconds."
        if error:
            self.set_state({"error": error, "meters": None, "seconds": None, "sent": ""})
            return
        self.set_state({"error": "", "meters": meters, "seconds": seconds, "sent": ""})
        if self.host is not None:  # in the browser: record it (a promise, run on its own)
            self.send()

    async def send(self) -> None:
        """Record the run checked, now, and announce it to the page."""
        self.set_state({"sending": True})
        try:
            run = await RunsClient(self.host).record_run(
                self.state["meters"], self.state["seconds"], self.host.now()
            )
        except CallError as error:
            self.set_state({"sending": False, "error": "Not recorded: " + str(error)})
            return
        said = "Recorded " + distance(run["meters"]) + " in " + duration(run["seconds"]) + "."
        self.set_state(
            {
                "sending": False,
                "sent": said,
                "distance": "",
                "duration": "",
                "meters": None,
                "seconds": None,
            }
        )
        self.host.announce(RECORDED, run)
