"""The typed client's source: a method per JSON-RPC method, as the project's formatter writes it."""

from __future__ import annotations

import ast

import pytest

from atoll.frontends.lint import lint_source
from atoll.frontends.typed_client import ClientMethod, ClientParam, client_source

RECORD = ClientMethod(
    "record_run",
    [
        ClientParam("meters", "float"),
        ClientParam("seconds", "int"),
        ClientParam("started_at", "datetime"),
        ClientParam("notes", "str", required=False),
        ClientParam("shoes", "list[str] | None", required=False),
    ],
    "Run",
    "Record a run.",
)


def test_each_method_takes_its_parameters_and_sends_the_optional_ones_only_when_given():
    source = client_source("run-club", [RECORD])
    tree = ast.parse(source)
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    assert cls.name == "RunClubClient"
    assert "    ) -> object:" in source  # a type of the service's own: object, named below
    assert "        started_at: object," in source
    assert "        shoes: list[str] | None = None," in source
    assert "        notes: str | None = None," in source
    assert "            started_at: datetime." in source
    assert '        if notes is not None:\n            params["notes"] = notes' in source
    assert 'return await self.host.call("record_run", params)' in source
    assert all(len(line) <= 100 for line in source.splitlines())
    assert lint_source(source) == []  # Transcrypt compiles it rightly


def test_a_long_summary_goes_below_a_short_first_line():
    long = ClientMethod("weekly", summary="The meters " + "run " * 30)
    source = client_source("runs", [long])
    assert '        """Call weekly.\n\n        The meters run' in source
    assert all(len(line) <= 100 for line in source.splitlines())


@pytest.mark.parametrize("name", ["class", "not-a-name", "self", "params"])
def test_a_name_python_cannot_call_by_is_refused(name):
    with pytest.raises(ValueError, match="is no Python name"):
        client_source("runs", [ClientMethod("record", [ClientParam(name, "int")])])
