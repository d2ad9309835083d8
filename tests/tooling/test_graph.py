"""``atoll graph``: a system drawn as text, as Mermaid and as an HTML page with an SVG."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from atoll.cli import cli
from tests.tooling.projects import CLUB, forget, write

README = Path(__file__).resolve().parents[2] / "examples/runnerly/README.md"

CLUB_TEXT = """\
system club: runs, stats
  broker: memory:// unless --broker-url

service runs
  database   its own
  REST       POST /runs
  JSON-RPC   record_run, weekly_meters
  takes      runs.RecordRun
  publishes  runs.RunRecorded (to stats)

service stats
  REST       GET /totals/{user_id}
  consumes   runs.RunRecorded (from runs)
  sends      runs.RecordRun
  calls      runs
"""

CLUB_MERMAID = """\
flowchart LR
  s_runs["<b>runs</b><br/>POST /runs<br/>JSON-RPC: record_run, weekly_meters"]
  d_runs[("runs database")]
  s_stats["<b>stats</b><br/>GET /totals/{user_id}"]
  subgraph broker["broker: memory:// unless --broker-url"]
    m_runs_RecordRun[/"runs.RecordRun"/]
    m_runs_RunRecorded>"runs.RunRecorded"]
  end
  s_runs --- d_runs
  m_runs_RecordRun -->|takes| s_runs
  s_runs -->|publishes| m_runs_RunRecorded
  m_runs_RunRecorded -->|consumes| s_stats
  s_stats -.->|sends| m_runs_RecordRun
  s_stats -.->|calls| s_runs
"""

RUNNERLY_TEXT = """\
system runnerly: users, runs, stats, auth, web
  broker: memory:// unless --broker-url

service users
  database   its own
  REST       POST /users, POST /login, POST /refresh, POST /logout, GET /users/{user_id},
             GET /users, GET /me, * /ui/users/... (mounted)
  JSON-RPC   register_user, log_in, refresh_session, log_out, get_profile, list_users
  takes      users.RegisterUser, users.LogIn, users.RefreshSession, users.LogOut
  publishes  users.UserRegistered (to no service)

service runs
  database   its own
  REST       POST /runs, GET /runs/{run_id}, PATCH /runs/{run_id}, DELETE /runs/{run_id},
             GET /users/{user_id}/runs, GET /users/{user_id}/weekly-meters,
             * /ui/runs/... (mounted)
  JSON-RPC   record_run, get_run, change_run, delete_run, runs, weekly_meters
  GraphQL    yes
  takes      runs.RecordRun
  publishes  runs.RunRecorded (to stats), runs.RunChanged (to stats), runs.RunDeleted (to stats)
  calls      users

service stats
  database   its own
  REST       GET /users/{user_id}/weekly-totals, * /ui/stats/... (mounted)
  JSON-RPC   weekly_totals
  GraphQL    yes
  publishes  stats.WeeklyTotalChanged (to no service)
  consumes   runs.RunRecorded (from runs), runs.RunChanged (from runs),
             runs.RunDeleted (from runs)

service auth
  database   its own
  REST       GET /.well-known/jwks.json, GET /.well-known/message-keys.json,
             GET /.well-known/oauth-authorization-server, * /oauth/... (mounted)

service web
  REST       GET / (page), GET /sw.js (page), GET /offline.js (page),
             GET /manifest.webmanifest (page), GET /icon.svg (page)
"""


@pytest.fixture
def club(tmp_path, monkeypatch):
    """The tiny club system written out, the current directory, importable; forgotten after."""
    write(tmp_path, CLUB)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    forget("club")
    yield tmp_path
    forget("club")


def drawn(*arguments):
    result = CliRunner().invoke(cli, ["graph", *arguments])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_text_lists_each_service_with_what_it_declares_and_calls(club):
    assert drawn("club.app:system") == CLUB_TEXT


def test_mermaid_draws_services_databases_messages_and_calls(club):
    assert drawn("club.app:system", "--format", "mermaid") == CLUB_MERMAID


def test_runnerly_as_text():
    assert drawn("runnerly.app:system") == RUNNERLY_TEXT


def test_runnerly_s_readme_shows_its_graph_as_drawn_now():
    mermaid = drawn("runnerly.app:system", "--format", "mermaid")
    shown = re.search(r"```mermaid\n(.*?)```", README.read_text(), re.DOTALL)
    assert shown is not None, "examples/runnerly/README.md has no ```mermaid block"
    assert shown.group(1) == mermaid, (
        "the graph in examples/runnerly/README.md is out of date: replace its mermaid block "
        "with the output of `atoll graph runnerly.app:system --format mermaid`"
    )


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.links = []
        self.texts = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [value for name, value in attrs if name in {"src", "href"}]

    def handle_data(self, data):
        self.texts.append(data)


@pytest.mark.parametrize("target", ["club.app:system", "runnerly.app:system"])
def test_the_html_page_is_one_svg_naming_every_service_with_nothing_from_elsewhere(
    club, tmp_path, target
):
    output = tmp_path / "system.html"
    assert drawn(target, "--format", "html", "--output", str(output)) == ""
    page = output.read_text()
    parser = _Page()
    parser.feed(page)
    assert parser.tags.count("svg") == 1
    assert "script" not in parser.tags
    assert parser.links == []
    assert "http://" not in page
    assert "https://" not in page
    services = ["runs", "stats"] if target.startswith("club") else ["users", "runs", "stats"]
    for service in services:
        assert service in parser.texts
    root = ET.fromstring(page.removeprefix("<!DOCTYPE html>\n"))  # noqa: S314 - our own page
    assert [child.tag for child in root] == ["head", "body"]


def test_the_same_system_is_drawn_the_same_by_another_interpreter(club):
    # Another hash seed orders sets and hashes of strings otherwise: what is drawn must not.
    seed = str(int(os.environ.get("PYTHONHASHSEED", "0") or "0") + 1)
    command = [sys.executable, "-m", "atoll", "graph", "club.app:system", "--format", "html"]
    other = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=club,
        env={**os.environ, "PYTHONHASHSEED": seed},
        timeout=120,
        check=False,
    )
    assert other.returncode == 0, other.stderr
    assert drawn("club.app:system", "--format", "html") == other.stdout


def test_a_directory_or_a_target_that_is_no_system_is_a_usage_error(club):
    result = CliRunner().invoke(cli, ["graph", str(club)])
    assert result.exit_code == 2
    assert "atoll graph draws a service or a system" in result.output
    result = CliRunner().invoke(cli, ["graph", "club.runs.contracts:RecordRun"])
    assert result.exit_code == 2
    assert "atoll graph draws an atoll.Service" in result.output


def test_the_reference_page_shows_the_club_as_drawn():
    page = (README.parents[2] / "docs/reference/check-and-graph.md").read_text()
    assert f"```\n{CLUB_TEXT}```" in page
