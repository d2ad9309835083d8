"""The error tree: one root, the builtins a caller would catch, every error documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from atoll import errors

DOCS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_derives_from_atoll_error(name):
    assert issubclass(getattr(errors, name), errors.AtollError)


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (errors.ConfigError, ValueError),
        (errors.GraphError, TypeError),
        (errors.MissingProviderError, LookupError),
        (errors.ProviderError, TypeError),
        (errors.ScopeError, RuntimeError),
        (errors.LifecycleError, RuntimeError),
        (errors.TargetError, ImportError),
        (errors.MissingDependencyError, ImportError),
    ],
)
def test_errors_are_also_the_builtin_a_caller_would_catch(error, builtin):
    assert issubclass(error, builtin)


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_in_the_docstring_tree_and_in_docs_errors_md(name):
    assert name in (errors.__doc__ or "")
    assert name in DOCS.read_text()


def test_missing_dependency_names_the_extra_to_install():
    error = errors.MissingDependencyError("sqlalchemy", "sql")
    assert str(error) == 'sqlalchemy is not installed; install it with: pip install "atoll[sql]"'
    assert (error.library, error.extra) == ("sqlalchemy", "sql")


def test_task_failed_names_the_task_and_keeps_the_cause():
    cause = ValueError("the broker is gone")
    error = errors.TaskFailedError("relay", cause)
    assert str(error) == "background task 'relay' failed: ValueError: the broker is gone"
    assert error.task == "relay"
    assert error.__cause__ is cause


def test_a_remote_error_keeps_its_fields_and_survives_pickle_and_copy():
    import copy  # noqa: PLC0415 - only here
    import pickle  # noqa: PLC0415 - only here

    error = errors.RemoteError(-32602, "Invalid params", {"path": "$.meters"})
    assert str(error) == "Invalid params (code -32602): {'path': '$.meters'}"
    for twin in (pickle.loads(pickle.dumps(error)), copy.copy(error)):  # noqa: S301 - our own bytes
        assert isinstance(twin, errors.RemoteError)
        assert (twin.code, twin.message, twin.data) == (error.code, error.message, error.data)
        assert str(twin) == str(error)
