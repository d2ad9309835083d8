"""An application whose task ignores cancellation: only a forced exit ends it."""

import asyncio

import atoll

app = atoll.App("stubborn", description="Ignores cancellation.")


@app.task
async def stubborn() -> None:
    """Swallow every cancellation, as badly written code does."""
    print("stubborn running", flush=True)
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            print("stubborn ignores the cancellation", flush=True)


if __name__ == "__main__":
    atoll.main(app, ["--shutdown-grace", "30"])
