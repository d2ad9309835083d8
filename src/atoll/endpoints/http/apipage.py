"""The API page: a human-readable, try-it-yourself view of a service's OpenAPI document.

Served at ``/docs``. It is one self-contained HTML document (``apipage.html`` beside this
module): inline CSS and a small script that fetches the OpenAPI 3.1 document and renders each
operation, its parameters and schemas, and a form to send it; it links the documents
themselves, the AsyncAPI document of the service's messages among them, and the GraphQL page
when the service serves GraphQL. It loads nothing from
anywhere else, no CDN, font or framework, so it works on a machine without internet access;
and it puts every string of the document into the page as text, never as HTML.
"""

from __future__ import annotations

from functools import cache

__all__ = ["api_page"]

_PLACEHOLDERS = ("{{title}}", "{{openapi_url}}", "{{asyncapi_url}}", "{{graphql_url}}")


@cache
def _template() -> tuple[str, ...]:
    """The page split around its placeholders: text, placeholder, text, placeholder, ..."""
    # Imported here: importlib.resources costs more to import than the page costs to build.
    from importlib import resources  # noqa: PLC0415 - kept off atoll's import path

    text = resources.files(__package__).joinpath("apipage.html").read_text(encoding="utf-8")
    parts: list[str] = []
    while True:
        found = [(text.find(mark), mark) for mark in _PLACEHOLDERS if mark in text]
        if not found:
            parts.append(text)
            return tuple(parts)
        at, mark = min(found)
        parts.extend((text[:at], mark))
        text = text[at + len(mark) :]


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
        "{{title}}": _escape(title),
        "{{openapi_url}}": _escape(openapi_url),
        "{{asyncapi_url}}": _escape(asyncapi_url),
        "{{graphql_url}}": _escape(graphql_url),
    }
    # Substituted in one pass, so a title containing "{{openapi_url}}" stays text.
    return "".join(values.get(part, part) for part in _template()).encode("utf-8")


def _escape(text: str) -> str:
    """``text`` safe in HTML text and in a quoted attribute (what ``html.escape`` does)."""
    # The html module imports its entity tables, which the page never needs.
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#x27;")
    )
