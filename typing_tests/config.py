# Type-checked by mypy --strict, never run. Each `type: ignore[code]` marks a line mypy must
# reject: with warn_unused_ignores (part of --strict), mypy fails if the error goes away.
import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, assert_type

import msgspec

from atoll.kernel.config import Config, ConfigSpec, Origin, Secret, option


class Level(enum.Enum):
    DEBUG = "debug"
    INFO = "info"


@dataclass(frozen=True)
class ServerOptions:
    host: str = option("127.0.0.1", help="Interface to listen on")
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = option(8000, help="Port")
    ratio: float = option(0.5)
    debug: bool = option(default=False, help="Reload on change")
    root: Path | None = option(None, help="Where to serve files from")
    level: Level = option(Level.INFO, help="Log level")
    mode: Literal["fast", "safe"] = option("safe", help="Trade-off")
    password: Secret = option(Secret(""), help="Admin password")
    replicas: list[str] = option(default_factory=list, help="Read replica URLs")
    name: str = option(help="Service name")  # required: no default


@dataclass(frozen=True)
class WrongOptions:
    port: int = option("8000", help="Port")  # type: ignore[assignment]
    debug: bool = option(Level.INFO)  # type: ignore[assignment]
    replicas: list[str] = option(default_factory=dict)  # type: ignore[arg-type]


option("x", default_factory=list)  # type: ignore[call-overload]

spec = ConfigSpec(
    [("server", ServerOptions)],
    prog="python -m runs",
    env_prefix="RUNS",
    description="The runs service.",
    version="1.2.0",
)
config: Config = spec.load(argv=["--server-port", "9000"], environ={"RUNS_SERVER_NAME": "runs"})
spec.load()

assert_type(config.section(ServerOptions), ServerOptions)
server: ServerOptions = config.section("server")
port: int = config.section(ServerOptions).port
origin: Origin = config.origin("server.port")
kind: Literal["default", "file", "env", "flag"] = origin.kind
text: str = config.describe()
shown: bool = config.show_config
password: str = server.password.reveal()

wrong_port: str = config.section(ServerOptions).port  # type: ignore[assignment]
unrevealed: str = server.password  # type: ignore[assignment]
