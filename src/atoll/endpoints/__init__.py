"""The server side of the transports: :mod:`~atoll.endpoints.http` and :mod:`~atoll.endpoints.rpc`.

Both read the API's description (:mod:`~atoll.endpoints.api`) and the fields of its messages
(:mod:`~atoll.endpoints.fields`); the clients that call them are :mod:`atoll.clients`.
"""
