"""Masking secrets in log lines: a configuration's secret values and named credentials.

A :class:`Redactor` is made once per configuration, from the values of its secret options
(:meth:`~atoll.kernel.config.Config.secrets`), and the log formats of
:mod:`atoll.kernel.logs` pass every line through it. It masks, as
:data:`~atoll.kernel.options.MASK`: those values wherever they appear; the value beside a
name that says it is a credential (``Authorization: ...``, ``password=...``,
``"access_token": "..."``); and the password of a URL. The rule is told in full by
:class:`Redactor`, and for users in docs/reference/app.md.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import msgspec

from atoll.kernel.options import MASK

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["FIELD_WORDS", "HEADER_WORDS", "MIN_SECRET_LENGTH", "Redactor"]


MIN_SECRET_LENGTH = 8
"""The fewest characters a secret's value has to be masked wherever it appears.

A shorter one (``admin``, ``1234``) is ordinary text too often: it is masked only where a name
says it is secret (``password=admin``), as any credential is.
"""

HEADER_WORDS = ("authorization", "cookie")
"""A header whose name holds one of these, in any case, holds a credential: ``Set-Cookie``."""

FIELD_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "api-key",
    "apikey",
)
"""A field whose name holds one of these, in any case, holds a credential: ``access_token``."""

_QUOTED = r"""b?"(?:[^"\\\r\n]|\\.)*"|b?'(?:[^'\\\r\n]|\\.)*'|\[[^\]\r\n]*\]"""
# What joins a name, and the rest of its word, to its value: ``=`` with no blank before it
# (``password=x``; ``password = f(x)`` is code, in a traceback's source line), or ``:`` and any
# blanks (``password: x``, ``"password": "x"``). A header's name and value may also be a pair
# of quoted strings, as lists of headers show them: ``('authorization', 'Bearer x')``.
_FIELD_JOIN = r"""[\w-]*["']?(?::[ \t]*|=)"""
_HEADER_JOIN = rf"""(?:{_FIELD_JOIN}|[\w-]*["'][ \t]*,[ \t]*(?=b?["']))"""
_HEADER_VALUE = rf"(?:{_QUOTED}|[^\r\n]+)"
_FIELD_VALUE = rf"""(?:{_QUOTED}|(?!secret\()["']?[^\s&,;)\]}}"'<>]+)"""
# One alternative per word, each starting with its first letter: the regular expression
# engine then skips every position whose character starts none, where an alternative that
# starts with a group (or a case-insensitive one) is tried at every position, 2 to 7 times
# slower. The value is the one group of its alternative: ``Match.lastindex`` says where it is.
_PAIRS = "|".join(
    [
        *(rf"{word}{_HEADER_JOIN}({_HEADER_VALUE})" for word in HEADER_WORDS),
        *(rf"{word}{_FIELD_JOIN}({_FIELD_VALUE})" for word in FIELD_WORDS),
        r"""://[^\s:/@"']*:([^\s/@"']+)@""",
    ]
)
_NAMED = re.compile("|".join(HEADER_WORDS + FIELD_WORDS))
"""Finds a word of a secret's name in a name case folded: 5 times faster than ignoring case."""


class Redactor:
    """Masks secrets in log records, as :data:`~atoll.kernel.options.MASK` (``********``).

    What is masked, in any text (a message with its arguments, a traceback, a context field):

    - each of ``secrets`` of at least :data:`MIN_SECRET_LENGTH` characters, wherever it
      appears, also as a Python or a JSON string escapes it and as a URL encodes it;
    - the value of a header whose name holds a word of :data:`HEADER_WORDS`, in any case
      (``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie``): a quoted
      value, or the rest of the line (``authorization: Bearer abc.def``);
    - the value of a field whose name holds a word of :data:`FIELD_WORDS`, in any case
      (``password``, ``new_password``, ``access_token``, ``client_secret``, ``X-Api-Key``): a
      quoted value, a list, or up to the next blank or ``&,;)]}"'<>`` (``password=hunter2``,
      ``"password": "hunter2"``);
    - the password of a URL (``postgresql://ada:********@db/runs``).

    A name is joined to its value by ``=`` with no blank before it, or by ``:`` and any
    blanks. Quotes stay (``"password": "********"``). Among a record's fields (see
    :meth:`fields`), one whose name holds such a word is masked whole, whatever its value.

    The patterns are compiled once, when the redactor is made. A text is first searched for
    the words and secrets they need, as plain substrings: most texts have none, and cost that
    search alone, about a third of a microsecond for a line of a hundred characters.

    Args:
        secrets: the values to mask wherever they appear, such as
            :meth:`~atoll.kernel.config.Config.secrets`.
    """

    __slots__ = ("_pairs", "_pairs_any_case", "_secrets", "_spellings", "secrets_in_hex")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        spellings = {
            spelling
            for secret in secrets
            if len(secret) >= MIN_SECRET_LENGTH
            for spelling in _spellings(secret)
        }
        # Longest first: of two secrets where one starts the other, the whole one is masked.
        self._spellings = tuple(sorted(spellings, key=lambda spelling: (-len(spelling), spelling)))
        known = "|".join(map(re.escape, self._spellings))
        self.secrets_in_hex = any(set(spelling) <= _HEX_DIGITS for spelling in self._spellings)
        """Whether a secret may be written in lower-case hexadecimal digits alone.

        A text of those digits holds no name of a secret (no ``password``, no ``token``); it
        can hold a secret only if this is true (see ``atoll.observability.access``).
        """
        self._secrets = re.compile(known) if known else None
        self._pairs = re.compile(_PAIRS)
        self._pairs_any_case = re.compile(_PAIRS, re.IGNORECASE)

    def text(self, text: str) -> str:
        """``text`` with every secret in it masked."""
        if not self.suspect(text):
            return text
        if self._secrets is not None:
            text = self._secrets.sub(MASK, text)
        # Lower case keeps an ASCII text's length, so a match in it is where it is in the text.
        if text.isascii():
            matches = self._pairs.finditer(text.lower())
        else:
            matches = self._pairs_any_case.finditer(text)
        shown: list[str] = []
        kept = 0
        for match in matches:
            begin, end = match.span(match.lastindex or 0)
            shown += (text[kept:begin], _mask(text[begin:end]))
            kept = end
        if not shown:
            return text
        shown.append(text[kept:])
        return "".join(shown)

    def fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """``fields`` with every secret in them masked, in nested mappings and lists too.

        A field whose name says it is secret (an ``authorization`` header, a ``password``) is
        masked whole; the text of any other is masked as by :meth:`text`. Returns ``fields``
        itself when nothing in it is masked, else a new dictionary.
        """
        # One search over the names, the texts and the containers' repr (which shows their
        # names and texts, escaped as the spellings of secrets foresee) tells most records
        # apart at once: they have nothing to mask.
        seen = [*fields]
        for value in fields.values():
            if isinstance(value, str):
                seen.append(value)
            elif isinstance(value, dict | list | tuple):
                seen.append(repr(value))
        if not self.suspect("\x00".join(seen)):
            return fields
        return {name: self._value(name, value) for name, value in fields.items()}

    def _value(self, name: str, value: object) -> object:
        if value is None:
            return None
        if name and _named(name):
            return MASK
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {key: self._value(str(key), item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._value("", item) for item in value]
        return value

    def suspect(self, text: str) -> bool:
        """Whether ``text`` may hold a secret: if not, :meth:`text` would return it unchanged.

        For a line made whole (JSON), where one look at it costs less than one per field. The
        words of :data:`HEADER_WORDS` and :data:`FIELD_WORDS` (``pass`` for three), case
        folded, tested one by one: a chain of ``in`` costs a third of a loop over a tuple.
        """
        folded = text.casefold()
        if (
            "pass" in folded
            or "secret" in folded
            or "token" in folded
            or "authorization" in folded
            or "cookie" in folded
            or (
                "key" in folded
                and ("apikey" in folded or "api_key" in folded or "api-key" in folded)
            )
            or ("@" in text and "://" in text)
        ):
            return True
        for spelling in self._spellings:  # noqa: SIM110 - any() over a generator costs more
            if spelling in text:
                return True
        return False


_HEX_DIGITS = frozenset("0123456789abcdef")


@functools.lru_cache(maxsize=512)
def _named(name: str) -> bool:
    """Whether a field called ``name`` holds a credential; a few names come again and again."""
    return _NAMED.search(name.casefold()) is not None


def _spellings(secret: str) -> set[str]:
    """``secret`` as it is, escaped in a Python and in a JSON string, and in a URL."""
    return {
        secret,
        repr(secret)[1:-1],
        msgspec.json.encode(secret).decode()[1:-1],
        quote(secret, safe=""),
    }


def _mask(value: str) -> str:
    """A credential's value masked; its quotes (and a ``b`` before them) are kept."""
    opens = 1 if value[:1] == "b" else 0
    quote_mark = value[opens : opens + 1]
    if quote_mark in {'"', "'"} and len(value) > opens + 1 and value[-1] == quote_mark:
        return f"{value[: opens + 1]}{MASK}{quote_mark}"
    return MASK
