"""The API page: a human-readable, try-it-yourself view of a service's OpenAPI document.

Served at ``/docs``. It is one self-contained HTML document (``apipage.html`` beside this
module): inline CSS and a small script that fetches the OpenAPI 3.1 document and renders each
operation, its parameters and schemas, and a form to send it; it links the documents
themselves, the AsyncAPI document of the service's messages among them, and the GraphQL page
when the service serves GraphQL. It loads nothing from anywhere else, no CDN, font or
framework, so it works on a machine without internet access; and it puts every string of the
document into the page as text, never as HTML. It is filled by
:mod:`~atoll.endpoints.http.templates`, as the GraphQL page is.
"""

from __future__ import annotations

from atoll.endpoints.http.templates import fill

__all__ = ["api_page"]


def api_page(
    title: str, openapi_url: str, *, asyncapi_url: str = "", graphql_url: str = ""
) -> bytes:
    """The API page of a service, as UTF-8 HTML.

    Args:
        title: the page's title, usually the service's name; escaped, so any text is safe.
        openapi_url: where the page fetches the OpenAPI document, relative to the page
            (``"openapi.json"``) or to the host (``"/openapi.json"``).
        asyncapi_url: where the AsyncAPI document of the service's messages is, which the
            page links (without fetching it); no link when empty.
        graphql_url: where the service serves GraphQL, whose page the page links; no link
            when empty.

    Returns:
        The whole document; build it once and serve the bytes.
    """
    values = {
        "title": title,
        "openapi_url": openapi_url,
        "asyncapi_url": asyncapi_url,
        "graphql_url": graphql_url,
    }
    return fill(__package__ or "", "apipage.html", values)
