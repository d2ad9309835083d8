"""GraphQL: the handlers of a service as the fields of a GraphQL schema, over HTTP.

What is here knows no GraphQL library: which handlers are fields and of which root type
(:mod:`~atoll.endpoints.graphql.fields`), how a service declares its schema
(:mod:`~atoll.endpoints.graphql.declaration`), the ``[graphql]`` options, how an error is told
(:mod:`~atoll.endpoints.graphql.errors`), and the HTTP endpoint
(:mod:`~atoll.endpoints.graphql.http`). The schema and its execution are the adapter's,
:mod:`atoll.adapters.graphql`, on graphql-core and ariadne (``atoll[graphql]``).
"""
