"""Element trees, ``h(tag, props, *children)``, and their HTML: what a component's view returns.

A view builds its UI as a tree of :class:`Element`, as Preact's ``h`` does in the browser::

    h("p", {"class_name": "greeting"}, "Hello ", props["name"] or "Guest", "!")

On the server (in CPython), :func:`render` writes a tree as HTML: for the first paint, for
clients without JavaScript, and for tests. Text and attribute values are escaped; ``None``,
``True`` and ``False`` children render nothing; lists are flattened; a :data:`FRAGMENT`
groups children without an element of its own. Props are named as Python names them and
written as HTML does: ``class_name`` is ``class``, ``html_for`` is ``for``, other
underscores are dashes (``aria_label`` is ``aria-label``); ``True`` writes the attribute
alone and ``False`` or ``None`` leaves it out; a ``style`` dict is written as CSS. Event
handlers (``on_click``, any callable) are the browser's, and never written; nor are ``key``
and ``ref``, which are Preact's (``key`` tells the items of a list apart). A ``form`` whose
submit a handler takes (``on_submit``) is written ``method="post"`` unless it names one, so
that submitted before the script runs, what is typed never lands in the page's address.

This module is written in the Python Transcrypt compiles rightly (``atoll.frontends.lint``
passes it): the same trees are built in the browser.
"""

__all__ = ["FRAGMENT", "Element", "escape", "escape_attribute", "h", "render"]

FRAGMENT = "#fragment"
"""The tag of a group of children without an element of its own."""

_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
_PREACTS = {"key", "ref"}
_RENAMED = {"class_name": "class", "html_for": "for", "http_equiv": "http-equiv"}


class Element:
    """An element of a view: its tag, its props and its children.

    Args:
        tag: the element's name (``"p"``, ``"runs-card"``), or :data:`FRAGMENT`.
        props: its attributes and event handlers, by Python name; None for none.
        children: its children: elements, text, numbers, lists of them, or ``None``.
    """

    def __init__(self, tag: str, props: dict[str, object] | None, children: list[object]) -> None:
        self.tag = tag
        self.props = props if props is not None else {}
        self.children = children

    def __repr__(self) -> str:
        return "Element(" + repr(self.tag) + ", " + repr(self.props) + ", ...)"


def h(tag: str, props: dict[str, object] | None = None, *children: object) -> Element:
    """An element of ``tag`` with ``props`` and ``children``: ``h("li", None, run.name)``."""
    return Element(tag, props, list(children))


def render(node: object) -> str:
    """``node`` (an element, text, a number, a list, or ``None``) as HTML text."""
    parts: list[str] = []
    _write(node, parts)
    return "".join(parts)


def _write(node: object, parts: list[str]) -> None:
    if node is None or node is True or node is False:
        return
    if isinstance(node, (list, tuple)):
        for child in node:
            _write(child, parts)
        return
    if isinstance(node, Element):
        if node.tag == FRAGMENT:
            _write(node.children, parts)
            return
        props = node.props
        if node.tag == "form" and "on_submit" in props and "method" not in props:
            # Submitted before its script runs (or without one), a form of the component's
            # own would go by GET, its fields (a password) in the address, the history and
            # the logs: by POST, they stay in the body.
            props = dict(props)
            props["method"] = "post"
        parts.append("<" + node.tag + _attributes(props) + ">")
        if node.tag in _VOID:
            return
        _write(node.children, parts)
        parts.append("</" + node.tag + ">")
        return
    parts.append(escape(str(node)))


def _attributes(props: dict[str, object]) -> str:
    written: list[str] = []
    for name in sorted(props.keys()):
        value = props[name]
        if value is None or value is False or callable(value) or name.startswith("on_"):
            continue
        if name in _PREACTS:  # Preact's own props, which no element shows
            continue
        html = _RENAMED.get(name) or name.replace("_", "-")
        if value is True:
            written.append(" " + html)
        elif name == "style" and isinstance(value, dict):
            written.append(' style="' + escape_attribute(_css(value)) + '"')
        else:
            written.append(" " + html + '="' + escape_attribute(str(value)) + '"')
    return "".join(written)


def _css(declarations: dict[str, object]) -> str:
    names = sorted(declarations.keys())
    return "; ".join([name.replace("_", "-") + ": " + str(declarations[name]) for name in names])


def escape(text: str) -> str:
    """``text`` safe in HTML text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attribute(text: str) -> str:
    """``text`` safe in a double-quoted HTML attribute."""
    return escape(text).replace('"', "&quot;")
