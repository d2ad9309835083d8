"""Messages and the bus: handlers, their invocation, the in-process bus and its middleware."""
