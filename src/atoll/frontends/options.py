"""The ``[ui]`` options: where a service's built components are, and whether it builds them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from atoll.kernel.options import option

__all__ = ["UiOptions"]


@dataclass(frozen=True)
class UiOptions:
    """How a service declaring ``service.components(...)`` builds and serves them."""

    build_dir: str = option(
        "build/ui",
        help="the directory of the builds, a directory per service in it (relative to the "
        "working directory)",
    )
    build: Literal["auto", "never"] = option(
        "auto",
        help="auto: build the components as the service starts when a source is newer than "
        "their build (needs atoll[frontends] and Node.js); never: serve the build there, made "
        "by atoll frontends build (as an image would)",
    )
