"""The GraphQL page: served to a browser at the endpoint's path, self-contained, script sound.

The page's script is checked in Node (``node --check``), and its pure functions (operation
names, variables, the curl command) are run there against a few inputs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest

import atoll
from atoll.endpoints.graphql.page import graphql_page, page_headers
from atoll.testing import run

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
NODE = shutil.which("node") or shutil.which("/usr/bin/node")  # Debian's, off a bare PATH
needs_node = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the page's script cannot be checked"
)


@dataclass(frozen=True)
class Run:
    """A run, as its runner recorded it."""

    id: int
    meters: float


def runs_service() -> atoll.Service:
    service = atoll.Service("runs")

    @service.rpc
    @service.get("/runs/{run_id}")
    async def get_run(run_id: int) -> Run:
        """A run, by its id."""
        return Run(run_id, 5000.0)

    service.graphql()
    return service


VOID = {"meta", "input", "br", "hr", "img", "link", "source", "col", "area", "base", "wbr"}


class Elements(HTMLParser):
    """The page's tags, attributes, the text of its scripts and styles, and nesting mistakes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.inline: dict[str, list[str]] = {"script": [], "style": []}
        self.open: list[str] = []
        self.problems: list[str] = []
        self._within: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)
        self._within = tag if tag in self.inline else None
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        self._within = None
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
            return
        self.open.pop()

    def handle_data(self, data):
        if self._within is not None:
            self.inline[self._within].append(data)


def parse(page: bytes) -> Elements:
    parser = Elements()
    parser.feed(page.decode("utf-8"))
    parser.close()
    return parser


@pytest.fixture(scope="module")
def page() -> bytes:
    return graphql_page("Runs", "./graphql")


@pytest.fixture(scope="module")
def script(page) -> str:
    (text,) = parse(page).inline["script"]
    return text


# -- serving ------------------------------------------------------------------------------------


async def test_a_browser_asking_for_the_endpoint_gets_the_page():
    async with run(runs_service()) as harness:
        answer = await harness.client.get("/graphql", headers=BROWSER)
        head = await harness.client.head("/graphql", headers=BROWSER)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>runs - GraphQL</title>" in answer.text
    assert ("data-endpoint", "./graphql") in parse(answer.content).attributes
    assert head.status_code == 200
    assert head.headers["content-type"] == "text/html; charset=utf-8"


async def test_the_page_sends_to_the_endpoint_relative_to_itself():
    async with run(runs_service(), argv=["--graphql-path", "/api/gql"]) as harness:
        answer = await harness.client.get("/api/gql", headers=BROWSER)
    assert ("data-endpoint", "./gql") in parse(answer.content).attributes


async def test_a_get_without_query_that_is_no_browsers_stays_400():
    async with run(runs_service()) as harness:
        answer = await harness.client.get("/graphql", headers={"accept": "application/json"})
    assert answer.status_code == 400
    assert "?query=" in answer.json()["detail"]


async def test_no_page_is_served_with_no_graphql_page():
    async with run(runs_service(), argv=["--no-graphql-page"]) as harness:
        answer = await harness.client.get("/graphql", headers=BROWSER)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"


async def test_a_browsers_get_with_a_query_runs_the_query():
    async with run(runs_service()) as harness:
        answer = await harness.client.get(
            "/graphql", params={"query": "{ getRun(runId: 3) { id } }"}, headers=BROWSER
        )
    assert answer.status_code == 200
    assert answer.json() == {"data": {"getRun": {"id": 3}}}


async def test_the_page_is_served_with_a_policy_allowing_only_itself():
    async with run(runs_service()) as harness:
        answer = await harness.client.get("/graphql", headers=BROWSER)
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in answer.headers["content-security-policy"].split(";")
    )
    inline = parse(answer.content).inline
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'"
    assert policy["script-src"] == sha256_source(inline["script"][0])
    assert policy["style-src"] == sha256_source(inline["style"][0])
    assert "unsafe" not in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["vary"] == "Accept"


def sha256_source(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def test_the_policy_follows_the_page_it_is_given():
    (policy,) = (
        value
        for name, value in page_headers(b"<p>no script</p>")
        if name.startswith(b"content-security")
    )
    assert b"script-src 'none'" in policy
    with pytest.raises(ValueError, match="never closed"):
        page_headers(b"<script>unclosed")


# -- the page itself ----------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["http://", "https://", "ftp:", "ws:", "wss:"])
def test_the_page_names_no_url_of_another_origin(page, scheme):
    assert scheme not in page.decode().lower()


@pytest.mark.parametrize("attribute", ["src", "href", "srcset", "action", "poster", "data"])
def test_the_page_loads_nothing_through_attributes(page, attribute):
    assert attribute not in {name for name, _ in parse(page).attributes}


def test_the_script_fetches_only_the_endpoint(script):
    assert re.findall(r"fetch\(([^,)]*)", script) == ["endpoint", "endpoint"]
    # "//" begins comments only: never a protocol-relative URL in a string or an argument.
    assert not re.search(r"""["'`(=:][ \t]*//""", script)


@pytest.mark.parametrize("pattern", [r"@import", r"url\s*\(", r"@font-face"])
def test_the_style_imports_no_style_font_or_image(page, pattern):
    (style,) = parse(page).inline["style"]
    assert not re.search(pattern, style, re.IGNORECASE)


@pytest.mark.parametrize(
    "pattern", [r"<link\b", r"<iframe\b", r"<img\b", r"\bimport\s*\(", r"^\s*import\s", r"Worker\("]
)
def test_the_page_loads_no_script_or_frame(page, pattern):
    assert not re.search(pattern, page.decode(), re.IGNORECASE | re.MULTILINE)


@pytest.mark.parametrize(
    "sink",
    ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("],
)
def test_the_script_puts_text_in_as_text_only(script, sink):
    assert sink not in script


def test_the_page_is_well_formed_html(page):
    parsed = parse(page)
    assert page.startswith(b"<!DOCTYPE html>")
    assert parsed.problems == []
    assert parsed.open == []


def test_the_page_has_one_inline_style_and_script_and_no_style_attribute(page):
    parsed = parse(page)
    assert parsed.tags.count("style") == 1
    assert parsed.tags.count("script") == 1
    assert "style" not in {name for name, _ in parsed.attributes}  # the policy would refuse it


def test_every_control_has_a_label(page):
    parsed = parse(page)
    ids = {value for name, value in parsed.attributes if name == "id"}
    labelled = {value for name, value in parsed.attributes if name == "for"}
    controls = {"document", "variables", "operation", "authorization", "curl"}
    assert controls <= ids & labelled


def test_a_title_and_endpoint_with_markup_come_out_escaped():
    page = graphql_page("</title><script>alert(1)</script>", '/x" onload="alert(1)')
    parsed = parse(page)
    assert parsed.tags.count("script") == 1
    assert "&lt;/title&gt;&lt;script&gt;" in page.decode()
    assert ("data-endpoint", '/x" onload="alert(1)') in parsed.attributes
    assert "onload" not in {name for name, _ in parsed.attributes}


def test_a_title_naming_a_placeholder_stays_text():
    assert "<title>{{endpoint}} - GraphQL</title>" in graphql_page("{{endpoint}}", "x").decode()


def test_the_script_leaves_no_global_behind(script):
    body = script.strip()
    assert body.startswith('"use strict";\n(() => {')
    assert body.endswith("})();")


# -- the script, in Node ------------------------------------------------------------------------


@needs_node
def test_the_script_parses(script, tmp_path):
    path = tmp_path / "page.js"
    path.write_text(script, encoding="utf-8")
    checked = subprocess.run(
        [NODE, "--check", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr


DRIVER = """
const page = require(process.argv[2]);
const calls = JSON.parse(require("fs").readFileSync(0, "utf-8"));
process.stdout.write(JSON.stringify(calls.map(([name, ...args]) => page[name](...args))));
"""


def call(script, tmp_path, *calls):
    """Each of ``calls`` (``(function, *arguments)``) run by the page's script in Node."""
    (tmp_path / "page.cjs").write_text(script, encoding="utf-8")
    (tmp_path / "driver.cjs").write_text(DRIVER, encoding="utf-8")
    ran = subprocess.run(
        [NODE, str(tmp_path / "driver.cjs"), str(tmp_path / "page.cjs")],
        input=json.dumps(calls),
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


@needs_node
@pytest.mark.parametrize(
    ("document", "names"),
    [
        ("{ count }", []),
        ("query { count }", []),
        ("query One { count } mutation Two($x: Int = 1) { forget(x: $x) }", ["One", "Two"]),
        (
            "subscription Ticks @live { tick }\nquery\n  # a comment\n  Later { a }",
            ["Ticks", "Later"],
        ),
        ('{ search(text: "query Fake {") { query Inner } }\nquery Real { a }', ["Real"]),
        ('# query Commented { a }\nquery Kept { b(s: """query X""") }', ["Kept"]),
        ("fragment F on Query { count } query Uses { ...F }", ["Uses"]),
        ("query Twice { a } query Twice { b }", ["Twice"]),
    ],
)
def test_the_operations_offered_are_the_documents_named_ones(script, tmp_path, document, names):
    assert call(script, tmp_path, ("operationNames", document)) == [names]


@needs_node
def test_variables_are_checked_before_they_are_sent(script, tmp_path):
    empty, spaces, nothing, good, bad, listed, number = call(
        script,
        tmp_path,
        ("parseVariables", ""),
        ("parseVariables", "  \n"),
        ("parseVariables", "null"),
        ("parseVariables", '{"id": 1}'),
        ("parseVariables", '{"id": 1,}'),
        ("parseVariables", "[1]"),
        ("parseVariables", "3"),
    )
    assert empty == spaces == nothing == {"ok": True, "value": None}
    assert good == {"ok": True, "value": {"id": 1}}
    assert bad["ok"] is False
    assert bad["message"].startswith("The variables are not JSON (")
    assert listed == {
        "ok": False,
        "message": 'The variables must be a JSON object, such as {"id": 1}, not an array.',
    }
    assert number["message"].endswith("not a number.")


@needs_node
def test_the_body_holds_only_what_has_a_value(script, tmp_path):
    bare, full = call(
        script,
        tmp_path,
        ("requestBody", "{ a }", None, None),
        ("requestBody", "query A { a }", {"x": 1}, "A"),
    )
    assert json.loads(bare) == {"query": "{ a }"}
    assert json.loads(full) == {
        "query": "query A { a }",
        "variables": {"x": 1},
        "operationName": "A",
    }


@needs_node
def test_the_curl_command_quotes_every_argument_for_a_shell(script, tmp_path):
    body = json.dumps({"query": '{ it\'s "quoted" $HOME `x` }'})
    headers = {"Content-Type": "application/json", "Authorization": "Bearer a'b"}
    (command,) = call(
        script, tmp_path, ("curlCommand", "http://127.0.0.1:8000/graphql", headers, body)
    )
    assert shlex.split(command) == [
        "curl",
        "http://127.0.0.1:8000/graphql",
        "-H",
        "Content-Type: application/json",
        "-H",
        "Authorization: Bearer a'b",
        "--data-raw",
        body,
    ]


@needs_node
def test_the_schema_lists_root_types_first(script, tmp_path):
    schema = {
        "queryType": {"name": "Query"},
        "mutationType": {"name": "Mutation"},
        "subscriptionType": None,
        "types": [{"name": name} for name in ["Run", "__Type", "Mutation", "Int", "Query"]],
    }
    nested = {
        "kind": "NON_NULL",
        "ofType": {
            "kind": "LIST",
            "ofType": {"kind": "NON_NULL", "ofType": {"kind": "OBJECT", "name": "Run"}},
        },
    }
    ordered, written = call(script, tmp_path, ("orderedTypes", schema), ("typeName", nested))
    assert ordered == {"roots": ["Query", "Mutation"], "names": ["Query", "Mutation", "Int", "Run"]}
    assert written == "[Run!]!"
