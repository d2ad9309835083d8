"""Components rendered on the server: element trees as HTML, and a first paint in a shadow root.

microthings' examples, in atoll: ``<mything-hello name="Bob">`` renders ``Hello Bob!`` in an
open shadow root, ``Guest`` without the attribute; a counter keeps its state. The runtime
modules are written in the Python Transcrypt compiles rightly, which the lint pass checks.
"""

from __future__ import annotations

import pytest

from atoll.frontends.component import Component, check_tag, render_component
from atoll.frontends.elements import FRAGMENT, h, render
from atoll.frontends.lint import lint_module


class Hello(Component):
    tag = "mything-hello"
    observed = ["name"]  # noqa: RUF012 - a declaration
    styles = "p > b { color: rebeccapurple; }"

    def view(self, props, state):
        return h("p", None, "Hello ", h("b", None, props["name"] or "Guest"), "!")


class Counter(Component):
    tag = "mything-counter"

    def initial_state(self, props):
        return {"count": 0}

    def view(self, props, state):
        return h("button", {"on_click": self.increment}, "Clicked ", state["count"], " times")

    def increment(self, event=None):
        self.set_state({"count": self.state["count"] + 1})


def test_hello_renders_its_name_or_guest_in_an_open_shadow_root():
    assert render_component(Hello, {"name": "Bob"}) == (
        '<mything-hello name="Bob"><template shadowrootmode="open">'
        "<style>p > b { color: rebeccapurple; }</style>"
        "<p>Hello <b>Bob</b>!</p></template></mything-hello>"
    )
    assert "<p>Hello <b>Guest</b>!</p>" in render_component(Hello)


def test_a_counter_keeps_its_state_and_renders_again_when_it_changes():
    counter = Counter({})
    assert render(counter.rendered()) == "<button>Clicked 0 times</button>"
    counter.increment()
    counter.increment()
    assert counter.state == {"count": 2}
    assert render(counter.rendered()) == "<button>Clicked 2 times</button>"
    assert counter.renders == 4  # each set_state rendered, as each read


def test_text_and_attributes_are_escaped():
    tree = h("a", {"title": 'say "hi" <now>', "href": "/x?a=1&b=2"}, "<script>alert(1)</script>")
    assert render(tree) == (
        '<a href="/x?a=1&amp;b=2" title="say &quot;hi&quot; &lt;now&gt;">'
        "&lt;script&gt;alert(1)&lt;/script&gt;</a>"
    )
    hostile = render_component(Hello, {"name": '"><script>x</script>'})
    assert "<script>" not in hostile


def test_props_are_written_as_html_names_them():
    tree = h(
        "label",
        {
            "class_name": "field",
            "html_for": "email",
            "aria_label": "Email",
            "hidden": False,
            "required": True,
            "title": None,
            "on_click": print,
            "style": {"font_size": "12px", "color": "red"},
        },
    )
    assert render(tree) == (
        '<label aria-label="Email" class="field" for="email" required '
        'style="color: red; font-size: 12px"></label>'
    )


def test_props_an_attribute_cannot_hold_are_written_as_json_in_data_props():
    class Board(Component):
        tag = "runs-board"
        observed = ["runs", "best", "owner_name"]  # noqa: RUF012 - a declaration

        def view(self, props, state):
            return h("p", None, props["owner_name"], " ", len(props["runs"]), " ", props["best"])

    html = render_component(
        Board, {"runs": [{"km": 5}], "best": 5.5, "owner_name": "Bob", "id": "b<"}
    )
    assert html.startswith(
        '<runs-board id="b&lt;" owner-name="Bob" '
        'data-props="{&quot;best&quot;:5.5,&quot;runs&quot;:[{&quot;km&quot;:5}]}">'
    )
    assert "<p>Bob 1 5.5</p>" in html


def test_a_form_a_handler_submits_is_posted_without_its_script():
    """Submitted before the script runs, its fields (a password) never go in the address."""

    def submitted(event):
        del event

    assert render(h("form", {"on_submit": submitted}, h("input", {"name": "password"}))) == (
        '<form method="post"><input name="password"></form>'
    )
    assert render(h("form", {"on_submit": submitted, "method": "dialog"})) == (
        '<form method="dialog"></form>'
    )
    assert render(h("form", {"action": "/search"})) == '<form action="/search"></form>'


def test_children_flatten_and_nothing_renders_for_none_and_booleans():
    tree = h("ul", None, [h("li", None, n) for n in range(3)], None, False, True)
    assert render(tree) == "<ul><li>0</li><li>1</li><li>2</li></ul>"
    assert render(h(FRAGMENT, None, h("br"), "text", 2.5)) == "<br>text2.5"
    assert render(h("img", {"src": "a.png"}, "ignored")) == '<img src="a.png">'


@pytest.mark.parametrize("tag", ["", "hello", "Runs-Card", "1-card"])
def test_a_tag_must_be_a_custom_elements_name(tag):
    class Bad(Component):
        pass

    Bad.tag = tag
    with pytest.raises(ValueError, match="a custom element's name is lower case"):
        check_tag(Bad)


def test_styles_that_would_end_their_sheet_are_refused():
    class Leaky(Hello):
        styles = "p {} </style><script>x</script>"

    with pytest.raises(ValueError, match="hold </style"):
        render_component(Leaky)


def test_a_component_without_a_view_says_so():
    class Blank(Component):
        tag = "runs-blank"

    with pytest.raises(NotImplementedError, match="Blank does not say what it shows"):
        render_component(Blank)


@pytest.mark.parametrize("module", ["atoll.frontends.elements", "atoll.frontends.component"])
def test_the_runtime_is_written_in_the_python_transcrypt_compiles_rightly(module):
    assert lint_module(module) == []


def test_the_reference_pages_example_prints_what_it_shows():
    import re  # noqa: PLC0415 - this test's alone
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    page = (Path(__file__).parents[2] / "docs" / "reference" / "frontends.md").read_text()
    code, shown = re.search(
        r"\$ python -c '\n(.*?)'\n(<mything-hello.*?)\n", page, re.DOTALL
    ).groups()
    printed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert printed.strip() == shown
