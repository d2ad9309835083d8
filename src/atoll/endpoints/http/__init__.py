"""The HTTP side: the ASGI app, routing, REST, problems, OpenAPI, the API page, the server."""
