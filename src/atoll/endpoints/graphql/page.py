"""The GraphQL page: write a document, run it, read the schema, in the browser.

Served at the endpoint's own path (``/graphql``) to a browser's ``GET`` without ``?query=``,
unless ``--no-graphql-page``. It is one self-contained HTML document (``page.html`` beside
this module): inline CSS and a script that sends documents to the endpoint, shows each answer
and its status, keeps the document and variables in the browser's storage, copies a request
as a curl command, and lists the schema an introspection query reads. It loads nothing from
anywhere else, no CDN, font or framework, so it works on a machine without internet access;
the policy it is served with (:func:`page_headers`) allows only its own inline script and
style, by their hashes, and requests to its own origin. Every string the service answers is
put into the page as text, never as HTML.
"""

from __future__ import annotations

from atoll.endpoints.http.templates import fill

__all__ = ["graphql_page", "page_headers"]


def graphql_page(title: str, endpoint: str) -> bytes:
    """The GraphQL page of a service, as UTF-8 HTML.

    Args:
        title: the page's title, usually the service's name; escaped, so any text is safe.
        endpoint: where the page sends its requests, relative to the page (``"./graphql"``),
            so that it works behind a proxy serving the service under a path prefix.

    Returns:
        The whole document; build it once and serve the bytes with :func:`page_headers`.
    """
    return fill(__package__ or "", "page.html", {"title": title, "endpoint": endpoint})


def page_headers(page: bytes) -> tuple[tuple[bytes, bytes], ...]:
    """The headers ``page`` is served with, besides its type and length.

    A Content-Security-Policy allowing the page's own inline scripts and styles, by the
    SHA-256 of each, requests to its own origin, and nothing else (no other origin, no frame
    around it, no form sent elsewhere); ``nosniff``; and ``Vary: Accept``, since the
    endpoint's path answers a browser with the page and any other client with GraphQL.
    """
    policy = "; ".join(
        (
            "default-src 'none'",
            f"script-src {_hashes(page, b'script')}",
            f"style-src {_hashes(page, b'style')}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
    return (
        (b"content-security-policy", policy.encode("ascii")),
        (b"x-content-type-options", b"nosniff"),
        (b"vary", b"Accept"),
    )


def _hashes(page: bytes, tag: bytes) -> str:
    """The CSP sources of each inline ``<tag>`` of ``page``: ``'sha256-...'``, or ``'none'``."""
    # Imported here: only a process that serves the page needs them, and it needs them once.
    import base64  # noqa: PLC0415 - kept off atoll's import path
    import hashlib  # noqa: PLC0415 - kept off atoll's import path

    opening, closing = b"<%s>" % tag, b"</%s>" % tag
    sources: list[str] = []
    end = 0
    while (start := page.find(opening, end)) != -1:
        end = page.find(closing, start)
        if end == -1:
            raise ValueError(f"the page's <{tag.decode()}> at byte {start} is never closed")
        digest = hashlib.sha256(page[start + len(opening) : end]).digest()
        sources.append(f"'sha256-{base64.b64encode(digest).decode('ascii')}'")
    return " ".join(sources) or "'none'"
