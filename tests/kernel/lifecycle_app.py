"""A tiny application for the lifecycle's real-process signal tests.

Run as ``python lifecycle_app.py [--hang-on-stop]``. It writes "app is ready" on stdout once ready,
then one line per stop and kill of its two units (``server`` needs ``db``); the lifecycle logs
go to stderr. With ``--hang-on-stop``, the server's stop never ends, so only a second signal
(or the 30 s grace period) ends the process.
"""

import asyncio
import logging
import sys

from atoll.kernel.lifecycle import Lifecycle, Unit


def say(line):
    sys.stdout.write(f"{line}\n")
    sys.stdout.flush()


class Step:
    def __init__(self, name, *, hang_on_stop=False):
        self.name = name
        self.hang_on_stop = hang_on_stop

    async def start(self):
        pass

    async def stop(self):
        say(f"stopping {self.name}")
        if self.hang_on_stop:
            await asyncio.Event().wait()
        say(f"stopped {self.name}")

    def kill(self):
        say(f"killed {self.name}")


async def main(*, hang_on_stop):
    lifecycle = Lifecycle("demo", grace=30.0)
    units = [
        Unit("db", Step("db")),
        Unit("server", Step("server", hang_on_stop=hang_on_stop), needs=frozenset({"db"})),
    ]

    async def announce():
        await lifecycle.wait_ready()
        say("app is ready")

    code, _ = await asyncio.gather(lifecycle.run(units), announce())
    return code


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(main(hang_on_stop="--hang-on-stop" in sys.argv)))
