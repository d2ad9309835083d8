import re
from html.parser import HTMLParser

import pytest

from atoll.endpoints.http.apipage import api_page

VOID = {"meta", "input", "br", "hr", "img", "link", "source", "col", "area", "base", "wbr"}


class Structure(HTMLParser):
    """Parses a page and records how its elements nest, failing on any mismatch."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.problems = []
        self.tags = []
        self.attributes = []
        self.text = []
        self.doctype = None

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: bytes) -> Structure:
    parser = Structure()
    parser.feed(page.decode("utf-8"))
    parser.close()
    return parser


@pytest.fixture(scope="module")
def page():
    return api_page("Runs API", "/openapi.json", asyncapi_url="/asyncapi.json")


def test_the_page_is_well_formed_html(page):
    parsed = parse(page)
    assert parsed.doctype == "DOCTYPE html"
    assert parsed.problems == []
    assert parsed.stack == []
    assert parsed.tags[0] == "html"


def test_the_page_names_its_title_and_openapi_url(page):
    parsed = parse(page)
    assert "<title>Runs API</title>" in page.decode()
    assert "<h1>Runs API</h1>" in page.decode()
    assert ("data-openapi-url", "/openapi.json") in parsed.attributes


def test_the_page_links_the_asyncapi_document_when_given_one():
    assert ("data-asyncapi-url", "") in parse(api_page("Runs", "/openapi.json")).attributes
    page = api_page("Runs", "/openapi.json", asyncapi_url='/a" onload="alert(1)')
    parsed = parse(page)
    assert ("data-asyncapi-url", '/a" onload="alert(1)') in parsed.attributes
    assert "onload" not in {name for name, _ in parsed.attributes}


def test_the_page_links_the_graphql_page_when_given_one():
    assert ("data-graphql-url", "") in parse(api_page("Runs", "/openapi.json")).attributes
    page = api_page("Runs", "/openapi.json", graphql_url="graphql")
    assert ("data-graphql-url", "graphql") in parse(page).attributes
    assert "GraphQL (a page to run documents)" in page.decode()


@pytest.mark.parametrize("scheme", ["http://", "https://", "//cdn", "ftp:"])
def test_the_page_names_no_url_of_any_scheme(page, scheme):
    assert scheme not in page.decode().lower()


@pytest.mark.parametrize("attribute", ["src", "href", "srcset", "action", "poster", "data"])
def test_the_page_loads_nothing_through_attributes(page, attribute):
    assert attribute not in {name for name, _ in parse(page).attributes}
    assert f"{attribute}=" not in page.decode().lower()


@pytest.mark.parametrize(
    "pattern", [r"@import", r"url\s*\(", r"<link\b", r"<iframe\b", r"import\s*\("]
)
def test_the_page_imports_no_style_font_or_script(page, pattern):
    assert not re.search(pattern, page.decode(), re.IGNORECASE)


def test_the_page_has_its_style_and_script_inline(page):
    tags = parse(page).tags
    assert tags.count("style") == 1
    assert tags.count("script") == 1


def test_a_title_with_markup_comes_out_escaped():
    page = api_page("</title><script>alert(1)</script>", "/openapi.json").decode()
    assert "<script>alert(1)" not in page
    assert "&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert parse(page.encode()).tags.count("script") == 1


def test_an_openapi_url_with_quotes_comes_out_escaped():
    page = api_page("Runs", '/x" onload="alert(1)')
    parsed = parse(page)
    assert ("data-openapi-url", '/x" onload="alert(1)') in parsed.attributes
    assert "onload" not in {name for name, _ in parsed.attributes}


def test_a_title_naming_a_placeholder_stays_text():
    page = api_page("{{openapi_url}}", "/openapi.json").decode()
    assert "<title>{{openapi_url}}</title>" in page


def test_the_script_puts_document_text_in_as_text_only(page):
    script = page.decode().split("<script>")[1]
    assert "innerHTML" not in script
    assert "outerHTML" not in script
    assert "insertAdjacentHTML" not in script
    assert "document.write" not in script
    assert "eval(" not in script


def test_the_page_is_short_enough_to_read(page):
    assert page.decode().count("\n") < 400
