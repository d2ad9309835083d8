"""Components: a piece of a service's UI, a Python class with a view, as a Web Component.

::

    class Hello(Component):
        tag = "runs-hello"
        observed = ["name"]
        styles = "p { color: rebeccapurple; }"

        def view(self, props, state):
            return h("p", None, "Hello ", props.get("name") or "Guest", "!")

A component's ``tag`` names its custom element (``<runs-hello name="Bob">``; the name must
hold a dash, as the HTML standard asks), ``observed`` the attributes whose changes render it
again, ``styles`` the CSS its shadow root adopts (isolated from the page's), and ``view``
builds its UI from its props (the observed attributes, by name, ``None`` when absent) and its
state (what :meth:`Component.initial_state` gives, changed by :meth:`Component.set_state`).

On the server, :func:`render_component` writes the element with its first paint inside, as
a declarative shadow root (``<template shadowrootmode="open">``): the page shows it before
any script runs, and without JavaScript at all. In the browser the same class, compiled by
Transcrypt, renders into that shadow root and takes over.

Written in the Python Transcrypt compiles rightly (``atoll.frontends.lint`` passes it).
"""

# __pragma__ ('skip')  # noqa: ERA001 - for CPython alone: Transcrypt passes it by
import json
from typing import Any  # Transcrypt's typing module has ClassVar alone

# __pragma__ ('noskip')  # noqa: ERA001
from atoll.frontends.elements import escape_attribute, render

__all__ = ["CallError", "Component", "check_tag", "render_component"]


class CallError(Exception):
    """A call of the service failed: it answered with an error, or could not be reached.

    Raised in the browser by ``self.host.call`` (and so by a typed client): catch it with
    ``except CallError as error`` and show ``str(error)``.

    Args:
        message: what went wrong, as the service said it.
        code: the JSON-RPC error's code; ``None`` when the service was not reached.
        data: the error's data, if it has any.
    """

    def __init__(self, message: str, code: object = None, data: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.data = data

    def __str__(self) -> str:
        return self.message


class Component:
    """A UI component; subclass it with a ``tag``, ``observed``, ``styles`` and ``view``.

    Args:
        props: the observed attributes' values, by name.
    """

    tag = ""
    """The custom element's name: lower case, with a dash (``runs-card``)."""
    observed: list[str] = []  # noqa: RUF012 - a declaration, read and never changed
    """The attributes whose changes render the component again, each a prop of its name."""
    styles = ""
    """The CSS of the component's shadow root, which no rule of the page reaches."""

    def __init__(self, props: dict[str, object]) -> None:
        self.props = props
        self.state = self.initial_state(props)
        self.host: Any = None
        """The custom element showing the component, in the browser; ``None`` on the server."""
        self.renders = 0
        """How many times the view was rendered."""

    def initial_state(self, props: dict[str, object]) -> dict[str, object]:
        """The state before any event: empty unless a subclass says otherwise."""
        del props
        return {}

    def view(self, props: dict[str, object], state: dict[str, object]) -> object:
        """The UI for ``props`` and ``state``: an element tree (see ``atoll.frontends.h``)."""
        raise NotImplementedError(type(self).__name__ + " does not say what it shows: define view")

    def set_state(self, changes: dict[str, object]) -> None:
        """Change the state by ``changes`` and render again.

        In the browser the element renders the new view into its shadow root; on the server
        the view is rendered (and counted) alone.
        """
        merged = dict(self.state)
        merged.update(changes)
        self.state = merged
        if self.host is None:
            self.rendered()
        else:
            self.host.refresh()

    def connected(self) -> None:
        """Called when the element is put into a document, after its first render there.

        Start here what the component runs while shown (a timer, a subscription), and stop it
        in :meth:`disconnected`: an element moved in the page is disconnected, then connected.
        """

    def disconnected(self) -> None:
        """Called when the element leaves the document: release what :meth:`connected` took."""

    def rendered(self) -> object:
        """The view of the current props and state, counted."""
        self.renders += 1
        return self.view(self.props, self.state)


def check_tag(component: type[Component]) -> str:
    """The tag of ``component``, checked: a custom element's name holds a dash.

    Raises:
        ValueError: the tag is missing or not a custom element's name.
    """
    tag = component.tag if hasattr(component, "tag") else ""
    if not tag or "-" not in tag or tag != tag.lower() or not tag[0].isalpha():
        raise ValueError(
            component.__name__
            + " has the tag "
            + repr(tag)
            + ": a custom element's name is lower case, starts with a letter and holds a "
            + "dash, such as runs-card"
        )
    return str(tag)


# __pragma__ ('skip')  # noqa: ERA001 - for the server alone, which has json
def render_component(
    component: type[Component], attributes: dict[str, object] | None = None
) -> str:
    """The HTML of ``component``'s element, its first paint in a declarative shadow root.

    Args:
        component: a :class:`Component` subclass.
        attributes: the element's attributes by name; those ``observed`` are its props. A
            prop of text is written as its attribute (``user_id`` as ``user-id``); any other
            value (a number, a list, a dict), which an attribute would turn into text, is
            written as JSON in ``data-props``, which the element reads as it first connects,
            so that the browser's first render sees the values this one saw.

    Raises:
        ValueError: the component's tag is not a custom element's name, or its styles would
            end their ``<style>`` element.
    """
    tag = check_tag(component)
    given = attributes if attributes is not None else {}
    props: dict[str, object] = {name: given.get(name) for name in component.observed}
    made = component(props)
    written = []
    typed: dict[str, object] = {}
    for name in sorted(given.keys()):
        value = given[name]
        if value is None or value is False:
            continue
        if name in component.observed and not isinstance(value, str):
            typed[name] = value
        else:
            shown = escape_attribute(str(value))
            written.append(" " + name.replace("_", "-") + '="' + shown + '"')
    if typed:
        encoded = json.dumps(typed, separators=(",", ":"), sort_keys=True)
        written.append(' data-props="' + escape_attribute(encoded) + '"')
    inside = render(made.rendered())
    styles = str(component.styles)
    if "</style" in styles.lower():  # raw text in <style>: only its end tag could break out
        raise ValueError(component.__name__ + "'s styles hold </style, which ends the sheet")
    style = "<style>" + styles + "</style>" if styles else ""
    return (
        "<"
        + tag
        + "".join(written)
        + '><template shadowrootmode="open">'
        + style
        + inside
        + "</template></"
        + tag
        + ">"
    )


# __pragma__ ('noskip')  # noqa: ERA001
