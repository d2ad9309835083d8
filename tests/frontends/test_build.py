"""Building components: each step stops a wrong build with its reason; a right one repeats.

Transcrypt's mistakes are silent (exit status 0), so the build lints first and checks the
compiled modules in Node after: these tests give it components that each step must catch.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import msgspec
import pytest

from atoll.adapters.transcrypt import TranscryptCompiler
from atoll.errors import BuildError
from atoll.frontends.asgi import static
from atoll.frontends.build import HOST_MEMBERS, MANIFEST, build_components, read_build, stale

pytestmark = pytest.mark.services("node")

HEADER = """
from atoll.frontends.component import Component
from atoll.frontends.elements import h
"""


@pytest.fixture
def module(tmp_path):
    """Write a module of components into a directory on ``sys.path``, and import it."""
    made: list[str] = []
    sys.path.insert(0, str(tmp_path / "src"))

    def write(name: str, source: str):
        (tmp_path / "src").mkdir(exist_ok=True)
        (tmp_path / "src" / f"{name}.py").write_text(HEADER + textwrap.dedent(source))
        made.append(name)
        importlib.invalidate_caches()
        return importlib.import_module(name)

    yield write
    sys.path.remove(str(tmp_path / "src"))
    for name in made:
        sys.modules.pop(name, None)


def build(components, output):
    return build_components("cards", components, output, TranscryptCompiler())


def test_a_build_is_the_same_twice_and_stale_once_a_source_changes(module, tmp_path):
    cards = module(
        "cards_same",
        """
        class Card(Component):
            tag = "cards-card"
            observed = ["title_text"]

            def view(self, props, state):
                return h("h2", {"class_name": "title"}, props["title_text"] or "untitled")
        """,
    )
    output = tmp_path / "ui"
    first = build([cards.Card], output)
    second = build([cards.Card], output)
    assert first.version == second.version
    assert read_build(output) == second
    assert not stale(output, [cards.Card])
    manifest = msgspec.json.decode((output / MANIFEST).read_bytes())
    assert manifest["components"] == [
        {"name": "Card", "tag": "cards-card", "observed": ["title_text"]}
    ]
    source = tmp_path / "src" / "cards_same.py"
    source.write_text(source.read_text().replace("untitled", "no title"))
    later = (output / MANIFEST).stat().st_mtime + 10
    os.utime(source, (later, later))
    assert stale(output, [cards.Card])


def test_the_lint_pass_stops_the_build_naming_the_line_and_the_rewrite(module, tmp_path):
    cards = module(
        "cards_lint",
        """
        class Price(Component):
            tag = "cards-price"

            def view(self, props, state):
                return h("p", None, f"{3.14159:.2f}")
        """,
    )
    with pytest.raises(BuildError) as raised:
        build([cards.Price], tmp_path / "ui")
    said = str(raised.value)
    assert "cards_lint.py:9:" in said
    assert "format spec" in said
    assert not (tmp_path / "ui" / MANIFEST).exists()


def test_a_view_compiled_wrongly_is_caught_in_node(module, tmp_path):
    # Equal dicts compare unequal in Transcrypt's JavaScript, even with -o; the lint cannot
    # tell (it has no types), so only running the compiled view shows it.
    cards = module(
        "cards_equal",
        """
        class Same(Component):
            tag = "cards-same"

            def view(self, props, state):
                left = {"a": 1}
                right = {"a": 1}
                return h("p", None, "same" if left == right else "different")
        """,
    )
    with pytest.raises(BuildError) as raised:
        build([cards.Same], tmp_path / "ui")
    said = str(raised.value)
    assert "Same renders differently compiled" in said
    assert "CPython: <p>same</p>" in said
    assert "Node:    <p>different</p>" in said


def test_an_import_that_compiles_to_nothing_is_caught_in_node(module, tmp_path):
    # Transcrypt's typing module has ClassVar alone: importing Any compiles with status 0,
    # into a module that does not load.
    cards = module(
        "cards_typing",
        """
        from typing import Any


        class Typed(Component):
            tag = "cards-typed"

            def view(self, props, state):
                return h("p", None, "typed")
        """,
    )
    with pytest.raises(BuildError) as raised:
        build([cards.Typed], tmp_path / "ui")
    assert "does not provide an export named 'Any'" in str(raised.value)


def test_a_view_that_needs_its_attributes_is_refused(module, tmp_path):
    cards = module(
        "cards_needy",
        """
        class Needy(Component):
            tag = "cards-needy"
            observed = ["name"]

            def view(self, props, state):
                return h("p", None, props["name"].upper())
        """,
    )
    with pytest.raises(BuildError, match="view fails in CPython with no attribute set"):
        build([cards.Needy], tmp_path / "ui")


@pytest.mark.parametrize(
    ("source", "said"),
    [
        (
            """
            class Bad(Component):
                tag = "nodash"

                def view(self, props, state):
                    return None
            """,
            "holds a dash",
        ),
        (
            """
            class Bad(Component):
                tag = "cards-bad"
                observed = ["userId"]

                def view(self, props, state):
                    return None
            """,
            "observes 'userId'",
        ),
        *(
            (
                f"""
            class Bad(Component):
                tag = "cards-bad"
                observed = ["name", "{taken}"]

                def view(self, props, state):
                    return None
            """,
                (
                    f"observes '{taken}', which its element \\(self.host\\) has as its own, "
                    f"and the prop would replace it: name the prop otherwise, such as '{fix}'"
                ),
            )
            for taken, fix in [
                ("call", "call_value"),
                ("now", "now_value"),
                ("claims", "claims_value"),
                ("later", "later_value"),
                ("listen", "listen_value"),
                ("announce", "announce_value"),
                ("refresh", "refresh_value"),
                ("component", "component_value"),
                ("remember_token", "remember_token_value"),
                ("_props", "props_value"),
            ]
        ),
    ],
)
def test_a_bad_declaration_is_refused_before_anything_runs(module, tmp_path, source, said):
    cards = module("cards_declared", source)
    with pytest.raises(BuildError, match=said):
        build([cards.Bad], tmp_path / "ui")


def test_the_names_refused_are_those_the_element_glue_gives_the_element():
    """A method added to the element in ``atoll-elements.js`` is a prop name refused."""
    glue = static("atoll-elements.js").decode()
    element = glue[
        glue.index("class ComponentElement") : glue.index(
            "\n  }\n", glue.index("class ComponentElement")
        )
    ]
    members = set(re.findall(r"^    (?:get |static get )?(\w+)\(", element, re.MULTILINE))
    own = {name for name in members if not name.startswith("_") and not name.endswith("Callback")}
    own -= {"constructor", "observedAttributes", "atollComponent", "atollSource"}
    assert own == HOST_MEMBERS


def test_a_component_of_no_module_file_is_refused(tmp_path):
    from atoll.frontends.component import Component  # noqa: PLC0415

    class Local(Component):
        tag = "cards-local"

    with pytest.raises(BuildError, match="not defined at the top of its module"):
        build([Local], tmp_path / "ui")


def test_two_builds_of_the_same_components_at_once_both_succeed(module, tmp_path):
    # Two processes sharing a build directory (a fleet started at once) build alike.
    cards = module(
        "cards_twice",
        """
        class Card(Component):
            tag = "cards-twice"

            def view(self, props, state):
                return h("p", None, "twice")
        """,
    )
    output = tmp_path / "ui"
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda _: build([cards.Card], output), range(2)))
    assert done[0].version == done[1].version
    assert read_build(output) == done[0]
    assert sorted(path.name for path in output.iterdir()) == sorted([MANIFEST, done[0].version])
