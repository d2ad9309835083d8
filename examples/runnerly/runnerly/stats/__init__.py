"""The stats service: each runner's weekly totals, a read model kept from the runs' events."""
