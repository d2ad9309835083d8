"""The map of a system: what ``atoll check`` and ``atoll graph`` read, each source once."""

from __future__ import annotations

import ast
import importlib
import inspect
from collections import Counter

import pytest

import atoll
from atoll.tooling.project import Project, project_of_module
from atoll.tooling.system_map import map_system


@pytest.fixture
def runnerly() -> tuple[atoll.System, Project]:
    """Runnerly's system and its project, its modules parsed already."""
    system = importlib.import_module("runnerly.app").system()  # made when first asked
    project = project_of_module("runnerly")
    assert project.modules  # parsed before a test counts what mapping does
    return system, project


def test_mapping_reads_the_source_of_each_function_and_class_once(runnerly, monkeypatch):
    system, project = runnerly
    read: Counter[object] = Counter()
    original = inspect.getsourcelines

    def counted(obj):
        read[obj] += 1
        return original(obj)

    monkeypatch.setattr(inspect, "getsourcelines", counted)

    mapped = map_system(system, project)

    placed = [h.function for s in mapped.services for h in s.handlers if h.place is not None]
    assert placed  # the handlers were placed, from their source
    assert {obj: count for obj, count in read.items() if count > 1} == {}


def test_mapping_walks_each_module_s_syntax_tree_once(runnerly, monkeypatch):
    system, project = runnerly
    trees = {id(module.tree): name for name, module in project.modules.items()}
    walked: Counter[str] = Counter()
    original = ast.walk

    def counted(node):
        if id(node) in trees:
            walked[trees[id(node)]] += 1
        return original(node)

    monkeypatch.setattr(ast, "walk", counted)

    map_system(system, project)

    assert walked  # the services' modules were read for their calls
    assert {name: count for name, count in walked.items() if count > 1} == {}
