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
        "    def __init__(self, host):",
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
    signature = ", ".join(
        ["self"] + [p.name for p in required] + [p.name + "=None" for p in optional]
    )
    summary = method.summary or f"Call {method.name}."
    lines = [f"    async def {method.name}({signature}):", f'        """{summary}', ""]
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
