"""Runnerly's deployment files, committed under examples/runnerly/deploy/, are up to date.

Each is written again by the command that wrote it and compared, byte for byte; a test that
fails names the command that writes them again.
"""

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from atoll.cli import cli

ROOT = Path(__file__).parents[2]
RUNNERLY = ROOT / "examples" / "runnerly"
DEPLOY = RUNNERLY / "deploy"

ISSUER = "http://auth:8000"
FLEET = [
    "runnerly.app:system",
    "--service", "users",
    "--service", "runs",
    "--service", "stats",
    "--service", "auth",
    "--command", "auth=python -m atoll run atoll.auth:service",
    "--set", f"auth.jwt.issuer={ISSUER}",
    "--set", f"auth.jwt.jwks_url={ISSUER}/.well-known/jwks.json",
    "--set", "users:auth.jwt.audience=users",
    "--set", "runs:auth.jwt.audience=runs",
    "--set", "stats:auth.jwt.audience=stats",
    "--set", f"auth:tokens.issuer={ISSUER}",
    "--set", f"users:clients.token_url={ISSUER}/oauth/token",
    "--set", "users:clients.client_id=users",
    "--set", f"runs:clients.token_url={ISSUER}/oauth/token",
    "--set", "runs:clients.client_id=runs",
    "--set", "runs:messages.sign=true",
    "--set", f"runs:messages.token_service={ISSUER}",
    "--set", "stats:messages.require_signed=true",
    "--set", f"stats:messages.token_service={ISSUER}",
]  # fmt: skip
"""What runnerly's fleet is: its three services and the token service, as ``runnerly.fleet``
starts them (the shell, ``web``, is the page of the system in one process, left out)."""

IMAGE = [
    "--module", "runnerly",
    "--source", "examples/runnerly/runnerly",
    "--frontends", "runnerly.app:system",
]  # fmt: skip
"""Runnerly's image, from the repository's root: atoll installed, runnerly copied beside."""

COMMANDS = {
    "compose": ("examples/runnerly", ["compose", *FLEET, "--output", "deploy/compose.yaml"]),
    "k8s": ("examples/runnerly", ["k8s", *FLEET, "--output", "deploy/k8s"]),
    "image": (".", ["image", *IMAGE, "--output", "examples/runnerly/deploy/Dockerfile"]),
}
"""Each command of ``atoll deploy``, with the directory it runs in, relative to the root."""


def shell_line(kind: str) -> str:
    """The command to run from the repository's root that writes the files of ``kind``."""
    where, arguments = COMMANDS[kind]
    command = shlex.join(["atoll", "deploy", *arguments])
    return command if where == "." else f"(cd {where} && {command})"


def written(kind, root, tmp_path, monkeypatch):
    """The files the command of ``kind`` writes, by their path under the output, as text."""
    where, arguments = COMMANDS[kind]
    output = tmp_path / kind
    arguments = [*arguments[: arguments.index("--output")], "--output", str(output)]
    monkeypatch.chdir(root / where)
    result = CliRunner().invoke(cli, ["deploy", *arguments], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    if output.is_dir():
        return files_under(output)
    return {"": output.read_text()}


def files_under(directory):
    """The files under ``directory``, by their path under it, as text."""
    return {
        path.relative_to(directory).as_posix(): path.read_text()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize(
    ("kind", "committed"),
    [
        ("compose", DEPLOY / "compose.yaml"),
        ("k8s", DEPLOY / "k8s"),
        ("image", DEPLOY / "Dockerfile"),
    ],
)
def test_the_committed_files_are_those_the_command_writes(kind, committed, tmp_path, monkeypatch):
    fresh = written(kind, ROOT, tmp_path, monkeypatch)
    if committed.is_dir():
        kept = files_under(committed)
    else:
        kept = {"": committed.read_text()} if committed.exists() else {}
    assert fresh == kept, f"{committed} is out of date; write it again with:\n{shell_line(kind)}"


def test_the_manifests_are_valid_for_the_pinned_kubernetes_version():
    import kubernetes_validate  # noqa: PLC0415 - the one test here that needs it
    import yaml  # noqa: PLC0415

    from atoll.deploy.kubernetes import KUBERNETES_VERSION  # noqa: PLC0415

    for path in sorted((DEPLOY / "k8s").rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
