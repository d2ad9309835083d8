"""The lagoon's components, for the tests of a shell working offline (not a test module).

Written in the Python Transcrypt compiles rightly: the build lints it, compiles it, and checks
in Node that each renders as CPython renders it.
"""

from atoll.frontends.component import Component
from atoll.frontends.elements import h


class Level(Component):
    """``<lagoon-level gauge="north">``: the gauge's last level, read from the service."""

    tag = "lagoon-level"
    observed = ["gauge"]  # noqa: RUF012 - a declaration, never changed

    def initial_state(self, props):
        return {"level": None}

    def view(self, props, state):
        if state["level"] is None:
            return h("p", None, "reading the gauge")
        return h("p", None, "Level ", h("output", None, state["level"]), " cm")

    def connected(self):
        self.read()

    async def read(self):
        level = await self.host.call("level_of", {"gauge": self.props["gauge"] or "north"})
        self.set_state({"level": level})


class Tide(Component):
    """``<lagoon-tide>``: the tide's name, shipped by the lagoon's second version alone."""

    tag = "lagoon-tide"

    def view(self, props, state):
        return h("p", None, "High tide")
