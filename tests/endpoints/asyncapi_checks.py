"""What every AsyncAPI document of atoll's is held to, for the tests that make one.

The official AsyncAPI 3.0.0 JSON Schema, vendored beside this file (where it comes from, and
its licence, Apache 2.0: README.md beside it), checked with jsonschema-rs, offline. A JSON
Schema cannot say that a ``$ref`` resolves, nor that an operation's messages are its
channel's, as the specification requires: :func:`check` says so too.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema_rs

SCHEMA = Path(__file__).resolve().parent / "asyncapi-3.0.0.schema.json"


@functools.cache
def _validator() -> Any:
    return jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))


def check(document: dict[str, Any]) -> dict[str, Any]:
    """``document``, once it is valid AsyncAPI 3.0 whose references all resolve.

    Raises:
        AssertionError: naming every error the schema finds, or the reference that fails.
    """
    errors = [
        f"{error.instance_path}: {error.message}" for error in _validator().iter_errors(document)
    ]
    assert errors == [], "\n".join(errors)
    for ref in _refs(document):
        assert resolve(document, ref) is not None, f"{ref} resolves to nothing"
    for name, operation in document.get("operations", {}).items():
        channel = operation["channel"]["$ref"]
        for message in operation.get("messages", []):
            assert message["$ref"].startswith(f"{channel}/messages/"), (name, message)
        reply = operation.get("reply")
        for message in (reply or {}).get("messages", []):
            assert message["$ref"].startswith(f"{reply['channel']['$ref']}/messages/"), name
    return document


def resolve(document: dict[str, Any], ref: str) -> Any:
    """What a local ``$ref`` (``#/components/schemas/Run``) points at; None for nothing."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []
