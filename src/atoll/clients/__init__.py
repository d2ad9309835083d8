"""The clients of other services: how a process calls them, whatever carries the call.

- :mod:`~atoll.clients.remote`: :class:`~atoll.clients.remote.RemoteService` (and its blocking
  twin), which encodes calls, batches and notifications and checks the answers;
- :mod:`~atoll.clients.transports`: how the bytes travel: over HTTP, to an engine in the same
  process, or over broker RPC;
- :mod:`~atoll.clients.directory`: :class:`~atoll.clients.directory.Clients`, the services a
  process calls, by name, and the ``clients`` options that say where each one is.
"""
