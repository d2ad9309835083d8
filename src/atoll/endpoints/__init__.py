"""Transports over the handlers: the ASGI app, routing, REST, JSON-RPC, OpenAPI, clients."""
