"""Reading the documentation's pages: their code blocks, their terminal sessions, their log lines.

The rule the tutorial's tests hold each page to: its ```` ```python ```` blocks are its files,
whole and in order (see :func:`files_of`), and its ```` ```console ```` blocks are what a
terminal really shows, once the parts that vary from run to run are made alike on both sides
(see :func:`shown`).
"""

from __future__ import annotations

import re
import shlex
import socket
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import httpx

DOCS = Path(__file__).resolve().parents[2] / "docs"
TUTORIAL = DOCS / "tutorial"
REFERENCE = DOCS / "reference"

_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", flags=re.DOTALL | re.MULTILINE)
_PYTHON = re.compile(r"^( *)```python\n(.*?)^\1```$", flags=re.DOTALL | re.MULTILINE)
_LINK = re.compile(r"\]\(([\w/]+\.py)\)")
_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
_DURATION = re.compile(r"\bin \d+\.\d+s\b")
_PID = re.compile(r"\[\d+\]")

PARTS_JOINED_BY = "\n\n"
"""Two blank lines between a file's blocks: where PEP 8 separates top-level definitions."""


def blocks(page: str, language: str) -> list[str]:
    """The page's fenced blocks of ``language``, in order."""
    return [text for lang, text in _BLOCK.findall(page) if lang == language]


def python_blocks(path: Path) -> list[str]:
    """The ```` ```python ```` blocks of the page at ``path``, in order, those in lists included.

    A block indented under a list item is given without its indent, as it would be typed.
    """
    return [textwrap.dedent(text) for _, text in _PYTHON.findall(path.read_text())]


def files_of(page: str, default: str | None = None) -> dict[str, str]:
    """The text of each file the page's python blocks show, by the file's relative path.

    A block belongs to the last ``.py`` file the page linked to before it (``default``
    before any link); the blocks of one file, joined by :data:`PARTS_JOINED_BY`, are the file.
    """
    parts: dict[str, list[str]] = {}
    current = default
    position = 0
    for match in _BLOCK.finditer(page):
        links = _LINK.findall(page, position, match.start())
        position = match.end()
        if links:
            current = links[-1]
        if match.group(1) == "python":
            assert current is not None, f"a python block before any file is named:\n{match[2]}"
            parts.setdefault(current, []).append(match.group(2))
    return {path: PARTS_JOINED_BY.join(texts) for path, texts in parts.items()}


def shown(line: str) -> str:
    """A log line as the page shows it: no time stamp, durations and process ids alike.

    The page writes the time stamp as ``...``; a duration (``ready in 0.065s``) and a process id
    (``[11580]``) differ on every run, so both sides get the same placeholder.
    """
    line = _STAMP.sub("... ", line)
    line = _DURATION.sub("in N.NNNs", line)
    return _PID.sub("[PID]", line)


def waitable(line: str) -> str:
    """The start of a shown log line that every run logs alike: what to wait for."""
    line = line.removeprefix("... ")
    varying = [m.start() for m in (_DURATION.search(line), _PID.search(line)) if m]
    return line[: min(varying)] if varying else line


@dataclass
class Command:
    """One ``$`` line of a console block, and the lines the page shows after it."""

    argv: list[str]
    output: list[str] = field(default_factory=list)


def session(block: str) -> tuple[list[str], list[Command]]:
    """A console block: the lines before its first ``$`` command, and each command with its output.

    A block that starts with output continues the output of a command shown in an earlier
    block (a process still running).
    """
    before: list[str] = []
    commands: list[Command] = []
    lines = iter(block.splitlines())
    for line in lines:
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\"):  # a command continued on the next line
                command = command[:-1] + next(lines)
            commands.append(Command(shlex.split(command)))
        elif commands:
            commands[-1].output.append(line)
        else:
            before.append(line)
    return before, commands


def request_of(argv: list[str], port: int) -> httpx.Request:
    """The request a page's ``curl`` command sends, to the server on ``port`` instead of 8000.

    It reads the page's forms only: ``curl URL`` and ``curl --json DATA URL``.
    """
    assert argv[0] == "curl", argv
    url = next(arg for arg in argv if arg.startswith("http://127.0.0.1:8000/"))
    url = url.replace(":8000/", f":{port}/")
    if "--json" in argv:
        body = argv[argv.index("--json") + 1]
        return httpx.Request(
            "POST",
            url,
            content=body.encode(),
            headers={"content-type": "application/json", "accept": "application/json"},
        )
    assert len(argv) == 2, f"a curl command this test does not read: {argv}"
    return httpx.Request("GET", url)


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
