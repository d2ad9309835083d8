"""A tally: a component that keeps a count, and a task that counts."""

import asyncio
import logging
from dataclasses import dataclass

import atoll

log = logging.getLogger("tally")


@dataclass(frozen=True)
class TallyOptions:
    """How the tally counts."""

    every: float = atoll.option(1.0, help="seconds between counts")
    start: int = atoll.option(0, help="the count to start from")


class Store:
    """A component: it has async start and stop, so the lifecycle runs them."""

    def __init__(self, options: TallyOptions) -> None:
        self.count = options.start

    async def start(self) -> None:
        """Open the store (a real one would connect here)."""
        log.info("store opened at %d", self.count)

    async def stop(self) -> None:
        """Close the store, after everything that needs it has stopped."""
        log.info("store closed at %d", self.count)


app = atoll.App("tally", version="1.0.0", description="Counts, and says so.")
app.options("tally", TallyOptions)
app.provide(Store)


@app.task
async def count(store: Store, options: TallyOptions) -> None:
    """Count until the application stops; the store is injected by its type."""
    while True:
        store.count += 1
        log.info("count is %d", store.count)
        await asyncio.sleep(options.every)


if __name__ == "__main__":
    atoll.main(app)
