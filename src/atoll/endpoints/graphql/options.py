"""The ``[graphql]`` options: where the endpoint is, and what a document may ask."""

from __future__ import annotations

from dataclasses import dataclass

from atoll.kernel.options import option

__all__ = ["GraphQLOptions"]


@dataclass(frozen=True)
class GraphQLOptions:
    """How a service declaring ``service.graphql()`` is served over GraphQL."""

    path: str = option("/graphql", help="the path of the GraphQL endpoint (POST, and GET)")
    introspection: bool = option(
        default=True,
        help="answer introspection (__schema, __type), which tools read the schema with; "
        "--no-graphql-introspection refuses it",
    )
    page: bool = option(
        default=True,
        help="serve the GraphQL page, to run documents and read the schema in a browser, at "
        "the endpoint's path to a GET asking for text/html; --no-graphql-page serves none",
    )
    max_depth: int = option(
        12, help="the deepest a document's selections may nest, fragments followed"
    )
    max_fields: int = option(
        500,
        help="the most fields a document may select, fragments followed and each list "
        "counted once: its cost",
    )
    max_document: int = option(
        16_384, help="the longest document accepted, in bytes, its variables apart"
    )

    persisted_queries: bool = option(
        default=True,
        help="take a document by its SHA-256 hash once a client has sent it with it "
        "(Apollo's automatic persisted queries); --no-graphql-persisted-queries takes "
        "each by its query alone",
    )
    connection_timeout: float = option(
        10.0,
        help="seconds a WebSocket client has to send connection_init (graphql-transport-ws) "
        "before it is closed (4408)",
    )

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or self.path.endswith("/"):
            raise ValueError(
                f"path must start with '/' and not end with one, such as /graphql; got "
                f"{self.path!r}"
            )
        for name, example in (("max_depth", 12), ("max_fields", 500), ("max_document", 16384)):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be 1 or more, such as {example}")
        if not 0 < self.connection_timeout < float("inf"):
            raise ValueError(
                f"connection_timeout must be seconds above 0, such as 10; got "
                f"{self.connection_timeout}"
            )
