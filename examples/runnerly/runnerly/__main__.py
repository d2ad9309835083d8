"""``python -m runnerly``: the whole system in one process, until Ctrl-C."""

import atoll
from runnerly.app import system

atoll.main(system)
