from dataclasses import dataclass

import atoll


@dataclass(frozen=True)
class Greeting:
    text: str
    to: str


service = atoll.Service("hello", version="1.0.0")


@service.rpc
@service.get("/hello/{name}")
async def hello(name: str, punctuation: str = "!") -> Greeting:
    """Greet someone by name."""
    return Greeting(f"hello {name}{punctuation}", name)


if __name__ == "__main__":
    atoll.main(service)
