"""``python -m cafe``: the orders and the kitchen in one process, until Ctrl-C."""

import atoll

from . import kitchen, orders

atoll.main(atoll.System(orders.service, kitchen.service, name="cafe"))
