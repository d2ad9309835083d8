"""Reject the Python that Transcrypt compiles wrongly, before it is compiled.

Transcrypt compiles much of Python it does not support with exit status 0, into JavaScript
that fails when it runs or, worse, runs and computes something else. This pass reads a
component's source with :mod:`ast` (it imports nothing, runs nothing) and returns a
:class:`Finding` for each such construct: where it is, what goes wrong, and what to write
instead. ``str(finding)`` is ``path:line:col: message; rewrite``, line and column from 1.

What Transcrypt 3.9.5 did with each construct, compiled with ``transcrypt -b -n -m`` on
CPython 3.11.7 and the result run by Node 20 (``-k`` added where said, and from
``strip-chars`` on with atoll's own flags, ``-b -n -m -k -o``; "aborts" is exit status 5,
the rest compiled with status 0):

=========================  ==============================================================
construct                  what Transcrypt did (and the rule that rejects it)
=========================  ==============================================================
``(n := len(xs)) > 3``     ``nlen (xs) > 3``: ReferenceError, in comprehensions too (walrus)
``match``                  ``v1return 'one'return 'pair'``: a SyntaxError (match)
``def f(a, /, b)``         ``a`` never bound: ReferenceError; methods and lambdas too
                           (positional-only)
``f"{x:.2f}"``             ``3.14159``: the spec dropped, ``{42:5d}`` gives ``42``
                           (format-spec)
``f"{s!r}"``, ``{s=}``     ``hi`` for ``'hi'``, ``s=hi`` for ``s='hi'``: the conversion
                           dropped; ``!a`` likewise (conversion). ``!s`` is right.
``@dataclass``             aborts, with arguments and as ``@dataclasses.dataclass`` too
                           (dataclass)
``async for``              ``vgen ()out.append (v)``: a SyntaxError; in comprehensions a
                           TypeError (async-for)
``async with``             ``Cm ()vprint (...)``: a SyntaxError (async-with)
``yield`` in ``async def`` no ``__anext__``: TypeError (async-generator)
``except*``                ``ExceptionGroup`` is not defined: ReferenceError (except-star)
``1 < f() < 10``           ``f()`` called twice (chained-comparison)
``isinstance(x, A | B)``   ``False`` for ``isinstance(3, int | str)``; ``issubclass`` too
                           (isinstance-union)
``{...} | {...}``, ``|=``  ``0`` (dict-merge); also with ``-o``
``del xs[0]``              the item set to ``None``; ``del xs[1:]`` does nothing; with
                           ``-o`` ``del d[k]`` does nothing either (del-subscript)
``print(x, end="")``       ``end`` ignored: a line ends anyway; with ``-k`` too
                           (print-end)
``"{:.2f}".format(x)``     ``{0:.2f}`` and ``{!r}`` left in the output as written
                           (str-format-spec); ``{}``, ``{0}``, ``{name}`` are right
``"%d" % n``               ``NaN`` (percent-format)
``with M() as v``          ``v`` is the manager, not what ``__enter__`` returned (with-as;
                           rejected also where ``__enter__`` returns ``self``, which is
                           right, since the pass cannot see what it returns)
``__slots__``              ignored: any attribute can be set (slots)
``[*a, *b]``, ``{*a}``     ``[[1, 2], [3]]``: nested, not spread; tuples too
                           (starred-display)
``h, *t = xs``             aborts; as a ``for`` target, ``t`` is ``2`` for ``[2, 3]``
                           (star-assignment)
``{**a, "k": 1}``          aborts (dict-unpacking)
``ascii(s)``               ``ascii`` is not defined: ReferenceError (ascii)
``def f(x=y)``             the default is evaluated at each call, in the function's scope:
                           ``lambda i=i: i`` gives ``None``, ``y`` its value at the call,
                           ``[]`` a new list each time (default-at-call)
``getattr(o, "x", d)``     ``None`` for a missing attribute: the default ignored
                           (getattr-default)
``s.strip("x")``           ``"xxaxx"`` for ``"xxaxx"``: the characters ignored, whitespace
                           stripped; ``lstrip``, ``rstrip`` too (strip-chars)
``sum(xs, 10)``            ``3`` for ``sum([1, 2], 10)``: the start ignored, as ``start=``
                           (sum-start)
``int("ff", 16)``          ``ValueError``; ``int("101", 2)`` gives ``101``: the base ignored
                           (int-base)
``min(v for v in xs)``     ``max`` and ``sorted`` too: TypeError; ``set()`` and ``tuple()``
                           of one give ``[]``, ``dict()`` an iterator object
                           (generator-argument)
``s.title()``              not defined: TypeError (missing-method); ``center``, ``ljust``,
                           ``rjust``, ``zfill``, ``partition``, ``rpartition``, ``rindex``,
                           ``removeprefix``, ``removesuffix``, ``swapcase``, ``casefold``,
                           ``expandtabs``, ``istitle``, ``isascii``, ``isidentifier``,
                           ``isprintable``, ``format_map`` too, and ``count``, of a
                           ``str`` or a ``list``; ``index`` of a ``str`` (a list's is
                           right). ``encode`` and ``translate`` are missing too, but not
                           rejected: other objects have methods of those names
=========================  ==============================================================

Right as Python runs them, so not rejected: ``yield from``, ``global`` and ``nonlocal``, set
comprehensions, ``@property`` with a setter, ``async def`` with ``await``, ``for``/``while``
/``try`` with ``else`` and ``finally``, ``X | Y`` in annotations, ``f"{x}"`` and ``!s``,
``*args`` in calls, list and dict ``.pop``, slice assignment, ``with M():`` whose
``__enter__`` returns ``self``, ``print(..., sep=)`` (with ``-k``), ``"{}".format(x)``,
``strip()`` and its kin without an argument, ``sum(xs)``, ``int("12")``, ``min(xs)`` of a
list (and of ``map``, ``zip``, ``range``), ``list``, ``sum``, ``any``, ``all`` and ``join``
of a generator expression, a list's ``.index(x)`` where ``x`` is in it.

Wrong, but only by the flags the compile is given, so not linted here:

- Without ``-k`` every keyword argument of a call is dropped (``g(1, c=9)`` is ``g(1)``),
  and with it keyword-only parameters and ``**kwargs``: components must be compiled with
  ``-k``, under which they are right.
- Without ``-o`` (operator overloading) ``[1] == [1]`` is ``False``, ``[1] + [2]`` is
  ``"12"`` and ``"ab" * 3`` is ``NaN``; with it they are right, but ``{"a": 1} == {"a": 1}``
  is still ``False``. Telling these from numbers' operators needs types, which this pass
  does not have. Without ``-o`` a negative index (``xs[-1]``, ``xs[-n]``) reads ``None``
  and a store to one sets nothing; with it, as atoll compiles (``atoll.adapters.transcrypt``
  ``FLAGS``), both are right, so the pass lets them through.
- ``str(1.0)`` is ``"1"``, and integers past 2**53 lose digits: JavaScript's numbers.
- Without ``-kc`` a missing key reads ``None`` (no ``KeyError``), an index past the end gives
  no ``IndexError``; without ``-da`` ``assert`` is dropped.

Wrong whatever the flags, but only for values of some types, which this pass cannot see: an
empty list or dict is true (``if []:`` runs); iterating a dict itself (``for k in d``) is a
TypeError where ``d.keys()`` is right; ``s.index(x)`` of a str held in a name is a
TypeError, and a list's ``.index(x)`` gives -1 for a missing ``x``, not a ``ValueError``;
``min()``, ``max()`` and ``sorted()`` of a generator held in a name, or of ``enumerate()``,
are a TypeError.

Not caught: ``except Exception`` (or any named class) compiles to a test that the error is an
instance of it, which a JavaScript error (a ``TypeError`` from a method that is not defined,
an attribute of ``None``) is not: it passes through. A bare ``except:`` catches it. A method
that does not exist, a typo in a typed client's too, is a TypeError at the call, not an
``AttributeError``, and a missing attribute reads ``undefined``.
"""

from __future__ import annotations

import ast
import importlib.util
import string
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from atoll.errors import TargetError

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator

__all__ = ["RULES", "Finding", "Rule", "lint_file", "lint_module", "lint_source"]

_PARSING = threading.Lock()
"""One ``ast.parse`` at a time: CPython 3.11 counts the depth of the tree it builds in state
shared by its threads, so that two at once fail (``SystemError: AST constructor recursion
depth mismatch``), as a service building its components' builds in threads did."""


@dataclass(frozen=True)
class Rule:
    """A construct this pass rejects: what Transcrypt does with it, and what to write instead."""

    construct: str
    message: str
    rewrite: str


@dataclass(frozen=True)
class Finding:
    """One construct Transcrypt would compile wrongly, where it is and what to write instead.

    ``line`` and ``column`` count from 1; ``column`` counts characters, not bytes.
    """

    path: str
    line: int
    column: int
    construct: str
    message: str
    rewrite: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}; {self.rewrite}"


WALRUS = Rule(
    "walrus",
    "the walrus operator (:=) compiles to a name that does not exist",
    "assign on a line of its own first",
)
MATCH = Rule(
    "match",
    "a match statement compiles to JavaScript that does not parse",
    "use if/elif on the value",
)
POSITIONAL_ONLY = Rule(
    "positional-only",
    "positional-only parameters (/) are never bound in the JavaScript",
    "drop the / (callers pass by position anyway)",
)
FORMAT_SPEC = Rule(
    "format-spec",
    "a format spec in an f-string ({x:.2f}) is dropped: the value prints unformatted",
    "format with a helper, such as str(round(x, 2)), and put that in the braces",
)
CONVERSION = Rule(
    "conversion",
    "a !r or !a conversion in an f-string (also implied by {x=}) is dropped: the value"
    " prints as str() would",
    "call repr(x) in the braces",
)
DATACLASS = Rule(
    "dataclass",
    "@dataclass aborts the compile",
    "write __init__ by hand",
)
ASYNC_FOR = Rule(
    "async-for",
    "async for compiles to JavaScript that does not parse (or, in a comprehension, fails)",
    "await a coroutine that returns a list, and loop over it with for",
)
ASYNC_WITH = Rule(
    "async-with",
    "async with compiles to JavaScript that does not parse",
    "await the manager's __aenter__() and, in a finally, its __aexit__(None, None, None)",
)
ASYNC_GENERATOR = Rule(
    "async-generator",
    "an async generator (yield in async def) compiles to an object without __anext__",
    "return a list from the coroutine, or yield from a plain generator",
)
EXCEPT_STAR = Rule(
    "except-star",
    "except* compiles to a use of ExceptionGroup, which the JavaScript does not define",
    "raise and catch single exceptions with except",
)
CHAINED_COMPARISON = Rule(
    "chained-comparison",
    "the middle operand of a chained comparison is evaluated twice (its calls run twice)",
    "assign the middle operand to a name first",
)
ISINSTANCE_UNION = Rule(
    "isinstance-union",
    "isinstance() or issubclass() of a union (A | B) is always False",
    "pass a tuple: isinstance(x, (A, B))",
)
DICT_MERGE = Rule(
    "dict-merge",
    "| on dicts gives 0",
    "copy and update: merged = dict(a), then merged.update(b)",
)
DEL_SUBSCRIPT = Rule(
    "del-subscript",
    "del x[i] sets a list item to None, and del x[i:j] changes nothing",
    "call x.pop(i) (x.pop(key) for a dict), or assign [] to the slice",
)
PRINT_END = Rule(
    "print-end",
    "print()'s end= is ignored: every print ends its line",
    "build the whole line first and print it once",
)
STR_FORMAT_SPEC = Rule(
    "str-format-spec",
    "a format spec or conversion in str.format() ({:.2f}, {!r}) is printed as written",
    "format the value with a helper, such as str(round(x, 2)) or repr(x), and pass that",
)
PERCENT_FORMAT = Rule(
    "percent-format",
    "% formatting of a string gives NaN",
    "use an f-string without a spec, or str() and +",
)
WITH_AS = Rule(
    "with-as",
    "with ... as v binds v to the manager itself, not to what __enter__ returns",
    "bind the manager first (m = Manager()), write with m:, and take the value from m",
)
SLOTS = Rule(
    "slots",
    "__slots__ is ignored: instances take any attribute",
    "remove __slots__; nothing in the browser enforces it",
)
STARRED_DISPLAY = Rule(
    "starred-display",
    "*x in a list, set or tuple display nests x where Python spreads it",
    "build it with list(a), then .extend(b)",
)
STAR_ASSIGNMENT = Rule(
    "star-assignment",
    "a starred target (first, *rest = xs) aborts the compile, or in a for loop binds the"
    " wrong values",
    "index and slice: first = xs[0], then rest = xs[1:] (in a for loop, on the row)",
)
DICT_UNPACKING = Rule(
    "dict-unpacking",
    "** in a dict display aborts the compile",
    "copy and update: d = dict(a), then d.update(...)",
)
DEFAULT_AT_CALL = Rule(
    "default-at-call",
    "a parameter's default is evaluated at each call, in the function's scope: i=i gives"
    " None, and a [] or a call is made anew",
    "default to None and compute the value in the body; to keep a loop's value, use a"
    " factory (def make(i): return lambda: i)",
)
GETATTR_DEFAULT = Rule(
    "getattr-default",
    "getattr()'s default is ignored: a missing attribute gives None",
    "test with hasattr: o.x if hasattr(o, 'x') else default",
)
ASCII = Rule(
    "ascii",
    "ascii() is not defined in the JavaScript",
    "call repr() (it keeps non-ASCII characters as they are)",
)
STRIP_CHARS = Rule(
    "strip-chars",
    "strip(), lstrip() and rstrip() ignore the characters they are given and strip"
    " whitespace: 'xxaxx'.strip('x') gives 'xxaxx'",
    "strip them in a loop: while s and s[0] in chars: s = s[1:] (s[-1] and s[:-1] at the end)",
)
SUM_START = Rule(
    "sum-start",
    "sum()'s start is ignored: sum([1, 2], 10) gives 3",
    "add it to the sum: start + sum(xs)",
)
INT_BASE = Rule(
    "int-base",
    "int()'s base is ignored: int('101', 2) gives 101, and int('ff', 16) raises ValueError",
    "add the digits up in a loop: n = n * base + '0123456789abcdef'.find(c) for c in s.lower()",
)
GENERATOR_ARGUMENT = Rule(
    "generator-argument",
    "min(), max() and sorted() of a generator expression are a TypeError, set() and tuple() of"
    " one are empty, and dict() of one is no dict",
    "pass a list comprehension, min([v for v in xs]), or write a set or dict comprehension",
)
MISSING_METHOD = Rule(
    "missing-method",
    "a method of str (or list) that the JavaScript does not define: calling it is a TypeError",
    "write it with the methods it has; each finding names one for its method",
)
SYNTAX_ERROR = Rule(
    "syntax-error",
    "not valid Python",
    "fix the syntax first: nothing else in the file was checked",
)

RULES = (
    WALRUS,
    MATCH,
    POSITIONAL_ONLY,
    FORMAT_SPEC,
    CONVERSION,
    DATACLASS,
    ASYNC_FOR,
    ASYNC_WITH,
    ASYNC_GENERATOR,
    EXCEPT_STAR,
    CHAINED_COMPARISON,
    ISINSTANCE_UNION,
    DICT_MERGE,
    DEL_SUBSCRIPT,
    PRINT_END,
    STR_FORMAT_SPEC,
    PERCENT_FORMAT,
    WITH_AS,
    SLOTS,
    STARRED_DISPLAY,
    STAR_ASSIGNMENT,
    DICT_UNPACKING,
    ASCII,
    DEFAULT_AT_CALL,
    GETATTR_DEFAULT,
    STRIP_CHARS,
    SUM_START,
    INT_BASE,
    GENERATOR_ARGUMENT,
    MISSING_METHOD,
    SYNTAX_ERROR,
)
"""Every rule, in the order of the table above; a syntax error is the last."""


def _missing(method: str, rewrite: str) -> Rule:
    """The missing-method rule for one method of ``str``, with that method's rewrite."""
    return Rule(
        MISSING_METHOD.construct,
        f"str.{method}() is not defined in the JavaScript: calling it is a TypeError",
        rewrite,
    )


_MISSING_METHODS = {
    "casefold": _missing("casefold", "call .lower()"),
    "center": _missing(
        "center",
        "pad both sides: ' ' * left + s + ' ' * (n - len(s) - left), left = (n - len(s)) // 2",
    ),
    "count": Rule(
        MISSING_METHOD.construct,
        "neither str.count() nor list.count() is defined in the JavaScript: calling either is"
        " a TypeError",
        "count a list's with len([v for v in xs if v == x]), a str's with len(s.split(x)) - 1",
    ),
    "expandtabs": _missing("expandtabs", "replace the tabs: s.replace('\\t', ' ' * 4)"),
    "format_map": _missing("format_map", "name the fields as keywords: s.format(name=value)"),
    "isascii": _missing("isascii", "test the characters: all(ord(c) < 128 for c in s)"),
    "isidentifier": _missing("isidentifier", "test each character: c.isalnum() or c == '_'"),
    "isprintable": _missing("isprintable", "test the characters one by one"),
    "istitle": _missing("istitle", "compare: s == ' '.join(w.capitalize() for w in s.split(' '))"),
    "ljust": _missing("ljust", "pad it: s + c * (n - len(s))"),
    "partition": _missing("partition", "call s.split(sep, 1): a list of one item or two"),
    "removeprefix": _missing("removeprefix", "slice it: s[len(p):] if s.startswith(p) else s"),
    "removesuffix": _missing(
        "removesuffix", "slice it: s[:len(s) - len(p)] if s.endswith(p) else s"
    ),
    "rindex": _missing("rindex", "call .rfind(x), which gives -1 where Python raises ValueError"),
    "rjust": _missing("rjust", "pad it: c * (n - len(s)) + s"),
    "rpartition": _missing("rpartition", "call s.rsplit(sep, 1): a list of one item or two"),
    "swapcase": _missing(
        "swapcase", "map the characters: ''.join(c.lower() if c.isupper() else c.upper() ...)"
    ),
    "title": _missing(
        "title", "capitalize each word: ' '.join(w.capitalize() for w in s.split(' '))"
    ),
    "zfill": _missing("zfill", "pad it: '0' * (n - len(s)) + s"),
}
"""By name: the methods of ``str`` that Transcrypt's ``str`` lacks, and ``count``, which its
``str`` and ``list`` both lack. The pass cannot see what a method is called on, so each is
rejected on anything but ``self`` and ``cls``, whose methods are the component's own.
``encode`` and ``translate``, missing too, are left out: JavaScript's own objects
(``TextEncoder``) and a page's translations have methods of those names."""
_STR_INDEX = _missing(
    "index",
    "call .find(x), which gives -1 where Python raises ValueError (a list's .index() is right:"
    " only an index() called on a str literal, an f-string or str() is rejected)",
)
_STRIPS = frozenset({"strip", "lstrip", "rstrip"})
_CONSUMERS = frozenset({"min", "max", "sorted", "set", "tuple", "dict"})
"""The builtins that take a generator expression wrongly (``list``, ``sum``, ``any``, ``all``,
``enumerate``, ``zip``, ``map`` and ``str.join`` take one right)."""
_REPR_CONVERSIONS = (ord("r"), ord("a"))
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_EFFECTS = (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)
_MADE_ANEW = (ast.Call, ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)


def lint_source(source: str, path: str = "<component>") -> list[Finding]:
    """Find the constructs of ``source`` that Transcrypt compiles wrongly, in file order.

    Args:
        source: a component module's Python source.
        path: the name its findings carry.

    Returns:
        The findings, by line and column; a source that does not parse has one, of its
        syntax error.
    """
    try:
        with _PARSING:
            tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as error:  # some 3.11 releases: ValueError for a null byte
        line = getattr(error, "lineno", None) or 1
        column = getattr(error, "offset", None) or 1
        reason = getattr(error, "msg", None) or str(error)
        return [_finding(path, line, column, SYNTAX_ERROR, f"{SYNTAX_ERROR.message}: {reason}")]
    linter = _Linter()
    linter.visit(tree)
    lines = source.split("\n")
    found = [
        _finding(path, line, _characters(lines, line, offset) + 1, rule)
        for line, offset, rule in linter.found
    ]
    return sorted(found, key=lambda finding: (finding.line, finding.column))


def lint_file(path: str | os.PathLike[str]) -> list[Finding]:
    """Lint the Python file at ``path`` (read with its coding cookie, or as UTF-8)."""
    name = str(path)
    try:
        source = importlib.util.decode_source(Path(path).read_bytes())
    except (SyntaxError, UnicodeDecodeError, LookupError) as error:
        return [_finding(name, 1, 1, SYNTAX_ERROR, f"{SYNTAX_ERROR.message}: {error}")]
    return lint_source(source, name)


def lint_module(module_name: str) -> list[Finding]:
    """Lint the source file of the module ``module_name``, without importing it.

    Its parent packages are imported, as :func:`importlib.util.find_spec` does to find it.

    Raises:
        TargetError: no module of that name is found, or it has no Python source.
    """
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError) as error:
        raise TargetError(
            f"cannot lint module {module_name!r}: {error}; name a module on sys.path"
            " (lint_file takes a path)"
        ) from error
    if spec is None:
        raise TargetError(
            f"cannot lint module {module_name!r}: no module of that name is found; name a"
            " module on sys.path (lint_file takes a path)"
        )
    if spec.origin is None or not spec.origin.endswith(".py"):
        raise TargetError(
            f"cannot lint module {module_name!r}: it has no Python source"
            f" ({spec.origin or 'a namespace package'});"
            " name a module written in a .py file"
        )
    return lint_file(spec.origin)


def _finding(path: str, line: int, column: int, rule: Rule, message: str = "") -> Finding:
    return Finding(path, line, column, rule.construct, message or rule.message, rule.rewrite)


def _characters(lines: list[str], line: int, offset: int) -> int:
    """The characters before UTF-8 byte ``offset`` of ``line``: ast counts bytes."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return len(text.encode()[:offset].decode(errors="replace"))


class _Linter(ast.NodeVisitor):
    """Collects ``(line, byte offset, rule)`` for each construct rejected, as it walks."""

    def __init__(self) -> None:
        self.found: list[tuple[int, int, Rule]] = []

    def flag(self, node: ast.expr | ast.stmt | ast.arg, rule: Rule) -> None:
        self.found.append((node.lineno, node.col_offset, rule))

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.flag(node, WALRUS)
        self.generic_visit(node)

    def visit_Match(self, node: ast.Match) -> None:
        self.flag(node, MATCH)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.parameters(node.args)
        self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.parameters(node.args)
        yielded = next((n for n in _own_nodes(node) if isinstance(n, ast.Yield)), None)
        if yielded is not None:
            self.flag(yielded, ASYNC_GENERATOR)
        self.generic_visit(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.parameters(node.args)
        self.generic_visit(node)

    def parameters(self, arguments: ast.arguments) -> None:
        if arguments.posonlyargs:
            self.flag(arguments.posonlyargs[0], POSITIONAL_ONLY)
        names = {a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)}
        for default in (*arguments.defaults, *arguments.kw_defaults):
            if default is not None and _evaluated_differently(default, names):
                self.flag(default, DEFAULT_AT_CALL)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for decorator in node.decorator_list:
            if _is_dataclass(decorator):
                self.flag(decorator, DATACLASS)
        for statement in node.body:
            targets = (
                statement.targets
                if isinstance(statement, ast.Assign)
                else [statement.target]
                if isinstance(statement, ast.AnnAssign)
                else []
            )
            if any(isinstance(t, ast.Name) and t.id == "__slots__" for t in targets):
                self.flag(statement, SLOTS)
        self.generic_visit(node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        if node.format_spec is not None:
            self.flag(node, FORMAT_SPEC)
        if node.conversion in _REPR_CONVERSIONS:
            self.flag(node, CONVERSION)
        self.generic_visit(node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        self.flag(node, ASYNC_FOR)
        self.generic_visit(node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        self.flag(node, ASYNC_WITH)
        self.generic_visit(node)

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self.comprehension(node, node.generators)

    def visit_SetComp(self, node: ast.SetComp) -> None:
        self.comprehension(node, node.generators)

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self.comprehension(node, node.generators)

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> None:
        self.comprehension(node, node.generators)

    def comprehension(self, node: ast.expr, generators: list[ast.comprehension]) -> None:
        if any(generator.is_async for generator in generators):
            self.flag(node, ASYNC_FOR)
        self.generic_visit(node)

    def visit_TryStar(self, node: ast.TryStar) -> None:
        self.flag(node, EXCEPT_STAR)
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        middle = node.comparators[:-1]
        if any(isinstance(n, _EFFECTS) for operand in middle for n in ast.walk(operand)):
            self.flag(node, CHAINED_COMPARISON)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        function = node.func
        if isinstance(function, ast.Name):
            if (
                function.id in {"isinstance", "issubclass"}
                and len(node.args) == 2  # noqa: PLR2004 - an object and its classes
                and _is_union(node.args[1])
            ):
                self.flag(node, ISINSTANCE_UNION)
            elif function.id == "print" and any(k.arg == "end" for k in node.keywords):
                self.flag(node, PRINT_END)
            elif function.id == "ascii":
                self.flag(node, ASCII)
            elif function.id == "getattr" and len(node.args) == 3:  # noqa: PLR2004 - a default
                self.flag(node, GETATTR_DEFAULT)
            elif function.id == "sum" and _given(node, 1, "start", unless=0):
                self.flag(node, SUM_START)
            elif function.id == "int" and _given(node, 1, "base", unless=10):
                self.flag(node, INT_BASE)
            elif function.id in _CONSUMERS and _first_is_generator(node):
                self.flag(node, GENERATOR_ARGUMENT)
        elif isinstance(function, ast.Attribute):
            self.method_call(node, function)
        self.generic_visit(node)

    def method_call(self, node: ast.Call, method: ast.Attribute) -> None:
        receiver = method.value
        if (
            method.attr == "format"
            and isinstance(receiver, ast.Constant)
            and isinstance(receiver.value, str)
            and _formats_fields(receiver.value)
        ):
            self.flag(node, STR_FORMAT_SPEC)
        elif method.attr in _STRIPS and _given(node, 0, "chars", unless=None):
            self.flag(node, STRIP_CHARS)
        elif method.attr == "index" and _is_str(receiver):
            self.flag(node, _STR_INDEX)
        elif method.attr in _MISSING_METHODS and not (
            isinstance(receiver, ast.Name) and receiver.id in {"self", "cls"}
        ):
            self.flag(node, _MISSING_METHODS[method.attr])

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.BitOr) and (_is_dict(node.left) or _is_dict(node.right)):
            self.flag(node, DICT_MERGE)
        elif (
            isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)
        ):
            self.flag(node, PERCENT_FORMAT)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.op, ast.BitOr) and _is_dict(node.value):
            self.flag(node, DICT_MERGE)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            for deleted in target.elts if isinstance(target, ast.Tuple | ast.List) else [target]:
                if isinstance(deleted, ast.Subscript):
                    self.flag(deleted, DEL_SUBSCRIPT)
        self.generic_visit(node)

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                self.flag(item.context_expr, WITH_AS)
        self.generic_visit(node)

    def visit_List(self, node: ast.List) -> None:
        self.starred(node.elts, store=isinstance(node.ctx, ast.Store))

    def visit_Tuple(self, node: ast.Tuple) -> None:
        self.starred(node.elts, store=isinstance(node.ctx, ast.Store))

    def visit_Set(self, node: ast.Set) -> None:
        self.starred(node.elts, store=False)

    def starred(self, elements: list[ast.expr], *, store: bool) -> None:
        for element in elements:
            if isinstance(element, ast.Starred):
                self.flag(element, STAR_ASSIGNMENT if store else STARRED_DISPLAY)
            self.visit(element)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                self.flag(value, DICT_UNPACKING)
        self.generic_visit(node)


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``scope``'s body, not descending into the functions or classes it defines."""
    for child in ast.iter_child_nodes(scope):
        if not isinstance(child, _SCOPES):
            yield child
            yield from _own_nodes(child)


def _evaluated_differently(default: ast.expr, parameters: set[str]) -> bool:
    """Whether evaluating ``default`` at each call in the function gives another value.

    A default naming another variable differs only if the variable is rebound after the
    ``def``, which the pass cannot see; it is let through.
    """
    return any(
        isinstance(node, _MADE_ANEW) or (isinstance(node, ast.Name) and node.id in parameters)
        for node in ast.walk(default)
    )


def _is_dataclass(decorator: ast.expr) -> bool:
    """Whether ``decorator`` is ``dataclass`` or ``dataclasses.dataclass``, called or not."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return (
            target.attr == "dataclass"
            and isinstance(target.value, ast.Name)
            and target.value.id == "dataclasses"
        )
    return isinstance(target, ast.Name) and target.id == "dataclass"


def _given(call: ast.Call, position: int, keyword: str, unless: object) -> bool:
    """Whether ``call`` passes an argument at ``position`` or as ``keyword``.

    The constant ``unless`` does not count: the JavaScript, which ignores the argument, gives
    what Python gives with it.
    """
    given = [k.value for k in call.keywords if k.arg == keyword]
    if len(call.args) > position:
        given.append(call.args[position])
    return any(
        not (
            isinstance(value, ast.Constant)
            and type(value.value) is type(unless)
            and value.value == unless
        )
        for value in given
    )


def _first_is_generator(call: ast.Call) -> bool:
    return bool(call.args) and isinstance(call.args[0], ast.GeneratorExp)


def _is_str(receiver: ast.expr) -> bool:
    """Whether ``receiver`` is a str by its form: a literal, an f-string or ``str()``."""
    return (
        (isinstance(receiver, ast.Constant) and isinstance(receiver.value, str))
        or isinstance(receiver, ast.JoinedStr)
        or (
            isinstance(receiver, ast.Call)
            and isinstance(receiver.func, ast.Name)
            and receiver.func.id == "str"
        )
    )


def _is_union(classes: ast.expr) -> bool:
    return isinstance(classes, ast.BinOp) and isinstance(classes.op, ast.BitOr)


def _is_dict(operand: ast.expr) -> bool:
    """Whether ``operand`` is a dict by its form: a display, a comprehension or ``dict()``."""
    return isinstance(operand, ast.Dict | ast.DictComp) or (
        isinstance(operand, ast.Call)
        and isinstance(operand.func, ast.Name)
        and operand.func.id == "dict"
    )


def _formats_fields(template: str) -> bool:
    """Whether a ``str.format`` template has a field with a spec or a conversion."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:  # not a template str.format reads: it fails in Python too
        return False
    return any(name is not None and (spec or conversion) for _, name, spec, conversion in fields)
