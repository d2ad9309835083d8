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
    fragments: list[str] = option(
        default_factory=list,
        help="where a shell finds the components of a service this process does not run, "
        "comma-separated SERVICE=URL pairs (runs=http://10.0.0.7:8002): its manifest is read "
        "at URL/ui/SERVICE/fragments.json",
    )

    def __post_init__(self) -> None:
        for pair in self.fragments:
            name, _, url = pair.partition("=")
            if not name or not url.startswith(("http://", "https://")):
                raise ValueError(
                    f"--ui-fragments takes SERVICE=URL pairs, like runs=http://10.0.0.7:8002; "
                    f"got {pair!r}"
                )

    def addresses(self) -> dict[str, str]:
        """The services' addresses ``--ui-fragments`` gives, by name."""
        return dict(pair.split("=", 1) for pair in self.fragments)
