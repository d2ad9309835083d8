"""The typed client a service's components call it with: Python source, generated.

``atoll frontends client MODULE:OBJECT SERVICE`` prints it; a project keeps it beside its
components (``runs/ui_client.py``), and a test (or ``atoll frontends client --check``) keeps
it true to the service. For each JSON-RPC method of the service the class has an ``async``
method of the same name and parameters, documented with their types, which sends the call
through the component's element (``host.call``) with the caller's token::

    class RecordRunForm(Component):
        async def submitted(self, event):
            run = await RunsClient(self.host).record_run(distance_m=5000, seconds=1500)

The module is written in the Python Transcrypt compiles rightly: it imports nothing.
"""

from __future__ import annotations

import keyword
import re
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ClientMethod", "ClientParam", "client_source"]


@dataclass(frozen=True)
class ClientParam:
    """A parameter of a method: its name, its type as a reader writes it, whether required."""

    name: str
    type: str
    required: bool = True


@dataclass(frozen=True)
class ClientMethod:
    """A JSON-RPC method of the service, as the client calls it."""

    name: str
    params: Sequence[ClientParam] = field(default_factory=tuple)
    result: str = "Any"
    summary: str = ""


def client_source(service: str, methods: Sequence[ClientMethod], command: str = "") -> str:
    """The source of the client module of ``service`` with ``methods``.

    ``command``: the command that made it, said in its docstring.

    Raises:
        ValueError: a method's or a parameter's name is not a Python identifier.
    """
    name = "".join(part.capitalize() for part in service.replace("-", "_").split("_")) + "Client"
    lines = [
        f'"""Calls service {service} from its components (written by atoll; do not edit).',
        "",
        f"Made by: {command}" if command else "Made by atoll frontends client.",
        '"""',
        "",
        "",
        f"class {name}:",
        f'    """Service {service}\'s JSON-RPC methods, called through a component\'s element.',
        "",
        "    Args:",
        "        host: the element, ``self.host`` in a component.",
        '    """',
        "",
        "    def __init__(self, host: object) -> None:",
        "        self.host = host",
    ]
    for method in sorted(methods, key=lambda each: each.name):
        lines += ["", *_method(method)]
    return "\n".join(lines) + "\n"


def _method(method: ClientMethod) -> list[str]:
    for each in [method.name, *(param.name for param in method.params)]:
        if not each.isidentifier() or keyword.iskeyword(each) or each in {"self", "params"}:
            raise ValueError(
                f"{each!r} of method {method.name!r} is no Python name: a client cannot call "
                "it by name; rename it in the service"
            )
    required = [param for param in method.params if param.required]
    optional = [param for param in method.params if not param.required]
    parameters = (
        ["self"]
        + [f"{p.name}: {_annotation(p.type)}" for p in required]
        + [f"{p.name}: {_annotation(p.type, optional=True)} = None" for p in optional]
    )
    summary = method.summary or f"Call {method.name}."
    if len(summary) > _LINE - 11:  # too long for the first line: said below it
        summary = f"Call {method.name}.\n\n" + summary
    returned = _annotation(method.result)
    line = f"    async def {method.name}({', '.join(parameters)}) -> {returned}:"
    if len(line) <= _LINE:
        lines = [line]
    else:  # one parameter a line, as the formatter writes it
        shown = [f"        {each}," for each in parameters]
        lines = [f"    async def {method.name}(", *shown, f"    ) -> {returned}:"]
    said = [
        part
        for paragraph in ('"""' + summary).split("\n")
        for part in (textwrap.wrap(paragraph, _LINE - 8) or [""])
    ]
    lines += [f"        {part}".rstrip() for part in said]
    lines.append("")
    if method.params:
        lines.append("        Args:")
        lines += [
            f"            {p.name}: {p.type}{'' if p.required else ', optional'}."
            for p in method.params
        ]
        lines.append("")
    lines += [f"        Returns: {method.result}.", '        """']
    given = ", ".join(f'"{p.name}": {p.name}' for p in required)
    lines.append("        params = {" + given + "}")
    for param in optional:
        lines += [
            f"        if {param.name} is not None:",
            f'            params["{param.name}"] = {param.name}',
        ]
    lines.append(f'        return await self.host.call("{method.name}", params)')
    return lines


_LINE = 100
"""The longest line written, as the formatter of the project keeps them."""
_BUILTINS = re.compile(r"(?:str|int|float|bool|None|list|dict|\[|\]|,| |\|)+")


def _annotation(written: str, *, optional: bool = False) -> str:
    """``written`` as an annotation when it names builtins alone, else ``object``.

    The module imports nothing (Transcrypt compiles it), so a type of the service's own
    (``Run``) is ``object`` here, and named in the docstring.
    """
    shown = written if _BUILTINS.fullmatch(written) else "object"
    if optional and shown != "object" and "None" not in shown:
        shown += " | None"
    return shown
