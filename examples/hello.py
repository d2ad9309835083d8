from dataclasses import dataclass

import atoll


@dataclass(frozen=True)
class Greeting:
    text: str
    to: str


service = atoll.Service("hello", version="1.0.0")


@service.rpc
@service.get("/hello/{name}")
async def hello(name: str, *, excited: bool = False) -> Greeting:
    """Greet someone by name."""
    return Greeting(f"hello {name}{'!' if excited else ''}", name)


if __name__ == "__main__":
    atoll.main(service)
