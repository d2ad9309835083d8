"""A service shipping microthings' examples, for ``atoll frontends build`` (not a test module)."""

from mything import Counter, Greeting, Hello

import atoll

service = atoll.Service("mything")
service.components(Hello, Counter)

bare = atoll.Service("bare")

greeter = atoll.Service("greeter")


@greeter.rpc
async def hello(name: str, punctuation: str = "!") -> str:
    """Greet someone by name."""
    return f"Hello {name}{punctuation}"


greeter.components(Greeting, Hello)
