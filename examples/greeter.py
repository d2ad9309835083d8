import asyncio
from dataclasses import dataclass

import atoll


@dataclass(frozen=True)
class Greeting:
    text: str = atoll.option("hello", help="what to say")
    every: float = atoll.option(1.0, help="seconds between greetings")


app = atoll.App("greeter")
app.options("greeting", Greeting)


@app.task
async def greet(greeting: Greeting) -> None:
    while True:
        print(greeting.text, flush=True)
        await asyncio.sleep(greeting.every)


if __name__ == "__main__":
    atoll.main(app)
