"""``python -m runnerly``: the whole system in one process, until Ctrl-C.

``python -m runnerly SERVICE [FLAGS]`` runs one service alone (``users``, ``runs`` or
``stats``), with its own flags (``--db-url``, ``--broker-url``, ``--server-port``...): what
``python -m runnerly.fleet`` starts, one process per service. ``python -m runnerly web
--ui-fragments users=URL,runs=URL,stats=URL`` serves the page composing their components.
"""

import sys

import atoll
from runnerly.app import NAMES, PAGE, service, system

if len(sys.argv) > 1 and sys.argv[1] in (*NAMES, PAGE):
    atoll.main(service(sys.argv[1]), sys.argv[2:])
atoll.main(system())
