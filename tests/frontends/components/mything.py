"""microthings' examples as atoll components, compiled for the browser tests (not a test module).

Written in the Python Transcrypt compiles rightly: the build lints it, compiles it, and checks
in Node that each renders as CPython renders it.
"""

from greeter_client import GreeterClient

from atoll.frontends.component import Component
from atoll.frontends.elements import h


class Hello(Component):
    """``<mything-hello name="Bob">``: Hello Bob!, or Hello Guest! without a name."""

    tag = "mything-hello"
    observed = ["name"]  # noqa: RUF012 - a declaration, never changed
    styles = "p { color: rgb(102, 51, 153); font-weight: bold; }"

    def view(self, props, state):
        return h("p", None, "Hello ", props["name"] or "Guest", "!")


class Counter(Component):
    """``<mything-counter>``: a button counting its clicks in the component's state."""

    tag = "mything-counter"
    observed = ["step"]  # noqa: RUF012 - a declaration, never changed

    def initial_state(self, props):
        return {"count": 0}

    def view(self, props, state):
        return h("button", {"on_click": self.increment}, "Clicked ", state["count"], " times")

    def increment(self, event):
        step = int(self.props["step"] or "1")
        self.set_state({"count": self.state["count"] + step})


class Visits(Component):
    """``<mything-visits>``: how many times it was put into the document, and taken out."""

    tag = "mything-visits"

    def initial_state(self, props):
        return {"connected": 0, "disconnected": 0}

    def view(self, props, state):
        return h(
            "span",
            {"class_name": "visits"},
            "in ",
            state["connected"],
            ", out ",
            state["disconnected"],
        )

    def connected(self):
        self.set_state({"connected": self.state["connected"] + 1})

    def disconnected(self):
        self.state["disconnected"] = self.state["disconnected"] + 1


class Tally(Component):
    """``<mything-tally>``: a list of named counts, given as a list of dicts (a property)."""

    tag = "mything-tally"
    observed = ["items", "unit"]  # noqa: RUF012 - a declaration, never changed

    def view(self, props, state):
        items = props["items"] or []
        if len(items) == 0:
            return h("p", None, "nothing yet")
        unit = props["unit"] or "times"
        return h(
            "ul",
            None,
            [
                h("li", {"key": item["name"]}, item["name"], ": ", item["count"], " ", unit)
                for item in items
            ],
        )


class Greeting(Component):
    """``<mything-greeting name="Ada">``: asks service greeter to greet, through its client."""

    tag = "mything-greeting"
    observed = ["name"]  # noqa: RUF012 - a declaration, never changed

    def initial_state(self, props):
        return {"said": "not yet greeted"}

    def view(self, props, state):
        return h(
            "div",
            None,
            h("button", {"on_click": self.greet}, "Greet"),
            h("output", None, state["said"]),
        )

    async def greet(self, event):
        said = await GreeterClient(self.host).hello(self.props["name"] or "you", punctuation="!!")
        self.set_state({"said": said})
