"""Runnerly's components: what a runner sees of her weeks, runs and profile, and the forms.

The data is the services' own answers, serialized as they serialize them (a dataclass as a
JSON object of its fields, a date as ISO text): a renamed field breaks these tests, as it
would break the page. The build test compiles the five components and renders each in Node
with the same data, which the build itself checks with no attribute set only.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import msgspec
import pytest
from click.testing import CliRunner

from atoll.adapters.transcrypt import TranscryptCompiler
from atoll.cli import cli
from atoll.frontends.build import build_components
from atoll.frontends.component import render_component
from atoll.frontends.elements import render
from atoll.frontends.lint import lint_file
from runnerly.runs.model import Run
from runnerly.runs.ui import RecordRunForm, RunList, meters_typed, seconds_typed
from runnerly.stats.model import WeeklyTotal
from runnerly.stats.ui import PLOT, TOP, WeeklyChart
from runnerly.users.contracts import Profile
from runnerly.users.ui import LoginForm, ProfileCard

RUNNERLY = Path(__file__).resolve().parents[2] / "examples" / "runnerly" / "runnerly"
COMPONENTS = [WeeklyChart, RunList, RecordRunForm, ProfileCard, LoginForm]
MONDAY = date(2026, 1, 5)
VOID = {"input", "br", "hr", "img", "meta", "link"}


class Page(HTMLParser):
    """The elements of a rendered component: each tag, its attributes and all its text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[dict] = []
        self._open: list[dict] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag):
        if tag not in VOID:
            self._open.pop()

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data

    def all(self, tag: str) -> list[dict]:
        return [element for element in self.elements if element["tag"] == tag]

    def text(self, tag: str) -> list[str]:
        return [element["text"] for element in self.all(tag)]


def shown(component, attributes=None) -> Page:
    return Page(render_component(component, attributes))


def week(days: int, meters: float, runs: int) -> dict:
    """A week's total as ``weekly_totals`` answers it."""
    return msgspec.to_builtins(WeeklyTotal(None, 7, MONDAY + timedelta(days=days), meters, runs))


def run(run_id: int, day: int, meters: float, seconds: int, notes: str = "") -> dict:
    """A run as the runs service answers it: without its events and version."""
    started = datetime(2026, 1, 5, 7, 30, tzinfo=UTC) + timedelta(days=day)
    served = msgspec.to_builtins(Run(run_id, 7, meters, seconds, started, notes))
    del served["events"], served["version"]
    return served


def typed(value: str) -> SimpleNamespace:
    """An input event as the browser gives it, of a field holding ``value``."""
    return SimpleNamespace(target=SimpleNamespace(value=value))


# -- stats: the weekly chart -----------------------------------------------------------------


def test_the_chart_draws_a_bar_per_week_as_tall_as_its_distance_beside_the_longest():
    weeks = [week(0, 10_000.0, 2), week(7, 5_000.0, 1), week(14, 20_000.0, 4)]
    page = shown(WeeklyChart, {"weeks": weeks})
    bars = page.all("rect")
    assert [int(bar["attrs"]["height"]) for bar in bars] == [PLOT // 2, PLOT // 4, PLOT]
    assert {int(bar["attrs"]["y"]) + int(bar["attrs"]["height"]) for bar in bars} == {TOP + PLOT}
    lefts = [int(bar["attrs"]["x"]) for bar in bars]
    assert lefts == sorted(lefts)  # oldest week first, as the service answers
    assert page.text("text") == ["10.0", "5 Jan", "5.0", "12 Jan", "20.0", "19 Jan"]
    assert page.text("title")[1:] == [
        "Week of 5 Jan 2026: 10.0 km in 2 runs",
        "Week of 12 Jan 2026: 5.0 km in 1 run",
        "Week of 19 Jan 2026: 20.0 km in 4 runs",
    ]
    (svg,) = page.all("svg")
    assert svg["attrs"]["role"] == "img"
    assert svg["attrs"]["aria-label"] == (
        "Kilometres run per week: 5 Jan, 10.0 km; 12 Jan, 5.0 km; 19 Jan, 20.0 km"
    )
    assert page.text("title")[0] == "Kilometres run per week"
    assert page.text("figcaption") == ["35.0 km in 7 runs over 3 weeks"]


def test_the_chart_rounds_to_tenths_and_shows_miles_when_asked():
    weeks = [week(0, 12_345.0, 3), week(7, 5_049.0, 1)]
    assert shown(WeeklyChart, {"weeks": weeks}).text("text")[::2] == [
        "12.3",
        "5.0",
    ]
    page = shown(WeeklyChart, {"weeks": [week(0, 16_093.44, 2)], "unit": "mi"})
    assert page.text("text") == ["10.0", "5 Jan"]
    assert page.all("svg")[0]["attrs"]["aria-label"] == "Miles run per week: 5 Jan, 10.0 mi"
    assert page.text("figcaption") == ["10.0 mi in 2 runs over 1 week"]


def test_the_chart_of_weeks_of_no_distance_draws_flat_bars():
    page = shown(WeeklyChart, {"weeks": [week(0, 0.0, 1), week(7, 0.0, 1)]})
    assert [bar["attrs"]["height"] for bar in page.all("rect")] == ["0", "0"]


@pytest.mark.parametrize("weeks", [None, []])
def test_the_chart_says_there_are_no_runs_yet(weeks):
    page = shown(WeeklyChart, {"weeks": weeks})
    assert page.all("svg") == []
    assert page.text("p") == ["No runs yet: your weekly totals show here."]


# -- runs: the list and the form -------------------------------------------------------------


def test_the_run_list_shows_the_newest_run_first_with_its_distance_time_and_pace():
    runs = [  # oldest first, as runs_of answers
        run(1, 0, 10_549.0, 3150, "easy"),
        run(2, 2, 5_000.0, 4000),
        run(3, 6, 42_195.0, 12_600, "marathon <3"),
    ]
    page = shown(RunList, {"runs": runs})
    assert len(page.all("tr")) == 1 + len(runs)
    assert all("key" not in row["attrs"] for row in page.all("tr"))  # Preact's, never shown
    cells = page.text("td")
    assert cells[:5] == ["11 Jan 2026", "42.2 km", "3:30:00", "4:59 /km", "marathon <3"]
    assert cells[5:10] == ["7 Jan 2026", "5.0 km", "1:06:40", "13:20 /km", ""]
    assert cells[10:] == ["5 Jan 2026", "10.5 km", "52:30", "4:59 /km", "easy"]
    assert page.all("time")[0]["attrs"]["datetime"] == runs[2]["started_at"]
    assert page.text("th") == ["Date", "Distance", "Time", "Pace", "Notes"]


@pytest.mark.parametrize("runs", [None, []])
def test_the_run_list_says_there_are_no_runs_yet(runs):
    page = shown(RunList, {"runs": runs})
    assert page.all("table") == []
    assert page.text("p") == ["No runs yet: record your first one."]


@pytest.mark.parametrize(
    ("text", "meters"),
    [
        ("10.5", 10_500),
        ("10,5", 10_500),
        (" 5 ", 5_000),
        (".5", 500),
        ("5.", 5_000),
        ("42.195", 42_195),
        ("0", 0),
        ("1.2345", None),
        ("-3", None),
        ("1e3", None),
        ("5 km", None),
        ("1.2.3", None),
        (".", None),
        ("12345", None),
        ("", None),
    ],
)
def test_a_distance_is_read_in_kilometres_to_the_metre(text, meters):
    assert meters_typed(text) == meters


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("52:30", 3150),
        ("1:02:03", 3723),
        ("45", 2700),
        ("0:45", 45),
        ("5:7", None),
        ("5:60", None),
        ("a:bc", None),
        ("1:02:03:04", None),
        ("-5:00", None),
        ("", None),
    ],
)
def test_a_time_is_read_as_minutes_and_seconds_or_hours_too(text, seconds):
    assert seconds_typed(text) == seconds


def test_the_record_form_keeps_what_is_typed_and_the_run_it_checked():
    form = RecordRunForm({})
    form.distance_typed(typed("10.5"))
    form.duration_typed(typed("52:30"))
    assert form.state["distance"] == "10.5"
    assert form.state["duration"] == "52:30"
    form.submitted(None)
    assert form.state["meters"] == 10_500
    assert form.state["seconds"] == 3150
    assert form.state["error"] == ""
    page = Page(render(form.rendered()))
    assert page.text("p") == ["Ready to record 10.5 km in 52:30 (5:00 /km)."]
    assert [field["attrs"]["value"] for field in page.all("input")] == ["10.5", "52:30"]


@pytest.mark.parametrize(
    ("distance", "duration", "said"),
    [
        ("", "52:30", "Type the distance in kilometres, such as 10.5."),
        ("0", "52:30", "Type the distance in kilometres, such as 10.5."),
        ("1000.001", "52:30", "A run covers at most 1000 km."),
        ("10.5", "", "Type the time as minutes:seconds (52:30) or hours:minutes:seconds."),
        ("10.5", "0:00", "Type the time as minutes:seconds (52:30) or hours:minutes:seconds."),
    ],
)
def test_the_record_form_says_what_to_type_instead(distance, duration, said):
    form = RecordRunForm({})
    form.distance_typed(typed("10.5"))
    form.duration_typed(typed("52:30"))
    form.submitted(None)
    form.distance_typed(typed(distance))
    form.duration_typed(typed(duration))
    form.submitted(None)
    assert form.state["error"] == said
    assert form.state["meters"] is None
    assert form.state["seconds"] is None
    (error,) = Page(render(form.rendered())).all("p")
    assert error["text"] == said
    assert error["attrs"]["role"] == "alert"


def test_a_submit_stops_the_browser_leaving_the_page():
    prevented = []
    event = SimpleNamespace(preventDefault=lambda: prevented.append(True))
    RecordRunForm({}).submitted(event)
    LoginForm({}).submitted(event)
    assert prevented == [True, True]


def test_the_record_form_shows_its_empty_fields_and_a_submit_button():
    page = shown(RecordRunForm)
    assert [field["attrs"]["name"] for field in page.all("input")] == ["distance", "duration"]
    assert page.text("label") == ["Distance (km)", "Time (mm:ss or h:mm:ss)"]
    assert page.all("button")[0]["attrs"]["type"] == "submit"
    assert page.all("p") == []


# -- users: the profile card and the login form ----------------------------------------------


def profile(name: str) -> dict:
    """The attributes of a profile card, from a profile as the users service answers it."""
    served = msgspec.to_builtins(Profile(7, "ada@example.com", name))
    return {prop: served[prop] for prop in ProfileCard.observed}


def test_the_profile_card_greets_the_runner_by_her_first_name_beside_her_initials():
    page = shown(ProfileCard, profile("Ada  King Lovelace"))
    assert page.text("span") == ["AL"]
    assert page.all("span")[0]["attrs"]["aria-hidden"] == "true"
    assert page.text("h2") == ["Hello, Ada!"]
    assert page.text("p") == ["Ada  King Lovelace", "ada@example.com"]


def test_a_runner_of_one_name_is_greeted_once():
    page = shown(ProfileCard, profile("ada"))
    assert page.text("span") == ["A"]
    assert page.text("h2") == ["Hello, ada!"]
    assert page.text("p") == ["ada@example.com"]


@pytest.mark.parametrize("name", [None, "", "   "])
def test_the_profile_card_greets_a_runner_before_her_profile_is_known(name):
    page = shown(ProfileCard, {"name": name})
    assert page.text("span") == ["?"]
    assert page.text("h2") == ["Hello, runner!"]
    assert page.all("p") == []


def test_the_login_form_keeps_what_is_typed_and_is_ready_once_both_are():
    form = LoginForm({})
    form.email_typed(typed(" ada@example.com "))
    form.password_typed(typed("correct horse battery"))
    form.submitted(None)
    assert form.state == {
        "email": "ada@example.com",
        "password": "correct horse battery",
        "error": "",
        "ready": True,
        "welcome": "",
    }
    html = render(form.rendered())
    assert "correct horse battery" not in html  # a password is never written into the page
    assert Page(html).all("p") == []
    form.password_typed(typed("correct horse"))
    assert form.state["ready"] is False


@pytest.mark.parametrize(
    ("email", "password", "said"),
    [
        ("", "secret", "Type the email you registered with."),
        ("ada", "secret", "Type the email you registered with."),
        ("ada@example.com", "", "Type your password."),
    ],
)
def test_the_login_form_says_what_is_missing(email, password, said):
    form = LoginForm({})
    form.email_typed(typed(email))
    form.password_typed(typed(password))
    form.submitted(None)
    assert form.state["error"] == said
    assert form.state["ready"] is False
    (error,) = Page(render(form.rendered())).all("p")
    assert (error["text"], error["attrs"]["role"]) == (said, "alert")


def test_the_login_form_asks_for_an_email_and_a_password():
    page = shown(LoginForm)
    fields = [
        (field["attrs"]["type"], field["attrs"]["autocomplete"]) for field in page.all("input")
    ]
    assert fields == [("email", "username"), ("password", "current-password")]
    assert page.text("button") == ["Log in"]


# -- each module runs in the browser too -----------------------------------------------------


@pytest.mark.parametrize("service", ["stats", "runs", "users"])
def test_each_ui_module_passes_the_transcrypt_lint(service):
    assert lint_file(RUNNERLY / service / "ui.py") == []


def test_every_component_has_a_tag_of_its_service():
    assert [component.tag for component in COMPONENTS] == [
        "stats-weekly-chart",
        "runs-run-list",
        "runs-record-form",
        "users-profile-card",
        "users-login-form",
    ]


# What each component is shown in Node, compiled, and in CPython: its props, then the handlers
# called, each with the value typed (an input event) or None (a submit).
CASES = [
    (WeeklyChart, {"weeks": [week(0, 12_345.0, 3), week(7, 5_049.0, 1), week(14, 0.0, 1)]}, []),
    (WeeklyChart, {"weeks": [week(0, 16_093.44, 2)], "unit": "mi"}, []),
    (WeeklyChart, {"weeks": []}, []),
    (
        RunList,
        {"runs": [run(1, 0, 10_549.0, 3150, "easy"), run(2, 6, 42_195.0, 12_600, "<3 & co")]},
        [],
    ),
    (RunList, {"runs": []}, []),
    (
        RecordRunForm,
        {},
        [("distance_typed", "10,5"), ("duration_typed", "52:30"), ("submitted", None)],
    ),
    (RecordRunForm, {}, [("distance_typed", "1e3"), ("submitted", None)]),
    (RecordRunForm, {}, [("distance_typed", "5"), ("duration_typed", "5:7"), ("submitted", None)]),
    (ProfileCard, profile("Ada King Lovelace"), []),
    (ProfileCard, {"name": "   ", "email": None}, []),
    (LoginForm, {}, [("email_typed", " ada@example.com "), ("submitted", None)]),
    (
        LoginForm,
        {},
        [("email_typed", "ada@example.com"), ("password_typed", "x"), ("submitted", None)],
    ),
]

SHOW = """
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const [directory, request] = process.argv.slice(2);
const url = (file) => pathToFileURL(join(directory, file)).href;
const { dict } = await import(url('org.transcrypt.__runtime__.js'));
const { render } = await import(url('atoll.frontends.elements.js'));
const shown = [];
for (const each of JSON.parse(request)) {
  const module = await import(url(each.module));
  const made = module[each.name](dict(each.props));
  for (const [method, value] of each.calls) {
    made[method](value === null ? null : { target: { value } });
  }
  shown.push(render(made.rendered()));
}
process.stdout.write(JSON.stringify(shown));
"""


def in_cpython(component, attributes, calls) -> str:
    made = component({name: attributes.get(name) for name in component.observed})
    for method, value in calls:
        getattr(made, method)(None if value is None else typed(value))
    return render(made.rendered())


@pytest.mark.services("node")
def test_the_components_compiled_show_what_cpython_shows(tmp_path):
    built = build_components("runnerly", COMPONENTS, tmp_path / "ui", TranscryptCompiler())
    assert [each.tag for each in built.components] == [each.tag for each in COMPONENTS]
    request = [
        {
            "module": component.__module__ + ".js",
            "name": component.__name__,
            "props": {name: attributes.get(name) for name in component.observed},
            "calls": calls,
        }
        for component, attributes, calls in CASES
    ]
    script = tmp_path / "show.mjs"
    script.write_text(SHOW)
    finished = subprocess.run(
        [
            shutil.which("node") or "node",
            str(script),
            str(tmp_path / "ui" / built.version),
            msgspec.json.encode(request).decode(),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    in_node = msgspec.json.decode(finished.stdout)
    for (component, attributes, calls), html in zip(CASES, in_node, strict=True):
        assert html == in_cpython(component, attributes, calls), component.__name__


@pytest.mark.parametrize("service", ["users", "runs", "stats"])
def test_each_services_typed_client_is_as_the_service_is_now(service):
    kept = RUNNERLY / service / "ui_client.py"
    checked = CliRunner().invoke(
        cli, ["frontends", "client", "runnerly.app:system", service, "--check", str(kept)]
    )
    assert checked.exit_code == 0, checked.output
