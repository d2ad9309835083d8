"""The lint pass rejects each construct Transcrypt compiles wrongly, and only those."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from atoll.adapters.transcrypt import FLAGS
from atoll.errors import TargetError
from atoll.frontends.lint import RULES, Finding, lint_file, lint_module, lint_source

REJECTED = {
    "walrus": ("if (n := len(xs)) > 3:\n    pass\n", "walrus", (1, 5)),
    "walrus-in-comprehension": ("ys = [y for x in xs if (y := x)]\n", "walrus", (1, 25)),
    "match": ("match v:\n    case 1:\n        pass\n", "match", (1, 1)),
    "positional-only": ("def f(a, /, b):\n    return a\n", "positional-only", (1, 7)),
    "positional-only-method": (
        "class K:\n    def m(self, a, /):\n        pass\n",
        "positional-only",
        (2, 11),
    ),
    "positional-only-lambda": ("g = lambda a, /: a\n", "positional-only", (1, 12)),
    "format-spec": ('x = f"{v:.2f}"\n', "format-spec", (1, 5)),
    "conversion-r": ('x = f"{v!r}"\n', "conversion", (1, 5)),
    "conversion-a": ('x = f"{v!a}"\n', "conversion", (1, 5)),
    "conversion-of-equals": ('x = f"{v=}"\n', "conversion", (1, 5)),
    "dataclass": ("@dataclass\nclass P:\n    x: int\n", "dataclass", (1, 2)),
    "dataclass-called": ("@dataclass(frozen=True)\nclass P:\n    x: int\n", "dataclass", (1, 2)),
    "dataclasses.dataclass": (
        "@dataclasses.dataclass\nclass P:\n    x: int\n",
        "dataclass",
        (1, 2),
    ),
    "dataclasses.dataclass-called": (
        "@dataclasses.dataclass(order=True)\nclass P:\n    x: int\n",
        "dataclass",
        (1, 2),
    ),
    "async-for": ("async def m():\n    async for v in it:\n        pass\n", "async-for", (2, 5)),
    "async-comprehension": (
        "async def m():\n    return [v async for v in it]\n",
        "async-for",
        (2, 12),
    ),
    "async-with": ("async def m():\n    async with c:\n        pass\n", "async-with", (2, 5)),
    "async-generator": ("async def gen():\n    yield 1\n", "async-generator", (2, 5)),
    "except-star": (
        "try:\n    pass\nexcept* ValueError:\n    pass\n",
        "except-star",
        (1, 1),
    ),
    "chained-comparison": ("ok = 0 < f() < 10\n", "chained-comparison", (1, 6)),
    "isinstance-union": ("ok = isinstance(x, int | str)\n", "isinstance-union", (1, 6)),
    "issubclass-union": ("ok = issubclass(C, A | B)\n", "isinstance-union", (1, 6)),
    "dict-merge": ("m = a | {'k': 1}\n", "dict-merge", (1, 5)),
    "dict-merge-of-dict-call": ("m = dict(a) | b\n", "dict-merge", (1, 5)),
    "dict-merge-in-place": ("a |= {'k': 1}\n", "dict-merge", (1, 1)),
    "del-subscript": ("del xs[0]\n", "del-subscript", (1, 5)),
    "del-slice": ("del xs[1:]\n", "del-subscript", (1, 5)),
    "print-end": ('print(x, end="")\n', "print-end", (1, 1)),
    "str-format-spec": ('s = "{:.2f}".format(x)\n', "str-format-spec", (1, 5)),
    "str-format-conversion": ('s = "{!r}".format(x)\n', "str-format-spec", (1, 5)),
    "percent-format": ('s = "%d items" % n\n', "percent-format", (1, 5)),
    "with-as": ("with opened() as v:\n    pass\n", "with-as", (1, 6)),
    "slots": ("class P:\n    __slots__ = ('x',)\n", "slots", (2, 5)),
    "slots-annotated": ("class P:\n    __slots__: tuple = ('x',)\n", "slots", (2, 5)),
    "starred-list": ("xs = [*a, 1]\n", "starred-display", (1, 7)),
    "starred-set": ("xs = {*a}\n", "starred-display", (1, 7)),
    "starred-tuple": ("xs = (*a, 1)\n", "starred-display", (1, 7)),
    "star-assignment": ("first, *rest = xs\n", "star-assignment", (1, 8)),
    "star-assignment-in-for": ("for h, *t in rows:\n    pass\n", "star-assignment", (1, 8)),
    "dict-unpacking": ("d = {**a, 'k': 1}\n", "dict-unpacking", (1, 8)),
    "ascii": ("s = ascii(x)\n", "ascii", (1, 5)),
    "default-naming-its-parameter": (
        "fs = [lambda i=i: i for i in r]\n",
        "default-at-call",
        (1, 16),
    ),
    "default-list": ("def f(items=[]):\n    pass\n", "default-at-call", (1, 13)),
    "default-call": ("def f(at=now()):\n    pass\n", "default-at-call", (1, 10)),
    "keyword-only-default-dict": ("def f(*, d={}):\n    pass\n", "default-at-call", (1, 12)),
    "getattr-default": ('s = getattr(o, "x", 0)\n', "getattr-default", (1, 5)),
    "strip-chars": ('s = t.strip("x")\n', "strip-chars", (1, 5)),
    "lstrip-chars": ('s = t.lstrip("0")\n', "strip-chars", (1, 5)),
    "rstrip-chars": ("s = t.rstrip(chars)\n", "strip-chars", (1, 5)),
    "sum-start": ("n = sum(xs, 10)\n", "sum-start", (1, 5)),
    "sum-start-keyword": ("n = sum(xs, start=base)\n", "sum-start", (1, 5)),
    "int-base": ('n = int("ff", 16)\n', "int-base", (1, 5)),
    "int-base-keyword": ("n = int(s, base=2)\n", "int-base", (1, 5)),
    "min-of-a-generator": ("m = min(v for v in xs)\n", "generator-argument", (1, 5)),
    "max-of-a-generator": ("m = max((v for v in xs), key=f)\n", "generator-argument", (1, 5)),
    "sorted-of-a-generator": ("m = sorted(v for v in xs)\n", "generator-argument", (1, 5)),
    "set-of-a-generator": ("m = set(v for v in xs)\n", "generator-argument", (1, 5)),
    "tuple-of-a-generator": ("m = tuple(v for v in xs)\n", "generator-argument", (1, 5)),
    "dict-of-a-generator": ("m = dict((v, 1) for v in xs)\n", "generator-argument", (1, 5)),
    "str-title": ("s = name.title()\n", "missing-method", (1, 5)),
    "str-zfill": ("s = str(n).zfill(2)\n", "missing-method", (1, 5)),
    "str-rjust": ('s = t.rjust(3, "0")\n', "missing-method", (1, 5)),
    "str-center": ("s = t.center(9)\n", "missing-method", (1, 5)),
    "str-partition": ('k, _, v = t.partition("=")\n', "missing-method", (1, 11)),
    "str-removeprefix": ('s = t.removeprefix("a")\n', "missing-method", (1, 5)),
    "str-count": ('n = t.count("a")\n', "missing-method", (1, 5)),
    "list-count": ("n = [1, 1, 2].count(1)\n", "missing-method", (1, 5)),
    "str-rindex": ('i = t.rindex("a")\n', "missing-method", (1, 5)),
    "index-of-a-str-literal": ('i = "abc".index(c)\n', "missing-method", (1, 5)),
    "index-of-an-f-string": ('i = f"{t}".index(c)\n', "missing-method", (1, 5)),
    "index-of-str": ("i = str(n).index(c)\n", "missing-method", (1, 5)),
}
"""By case: a source, the construct found in it, and where (line and column from 1)."""

ACCEPTED = {
    "assignment": "n = len(xs)\nif n > 3:\n    pass\n",
    "match-as-a-name": "match = find(x)\n",
    "if-elif": "if v == 1:\n    pass\nelif v == 2:\n    pass\n",
    "ordinary-and-keyword-only-parameters": "def f(a, *args, b=1, **kw):\n    return a\n",
    "lambda": "g = lambda a: a\n",
    "f-string": 'x = f"{v}"\n',
    "f-string-with-str-conversion": 'x = f"{v!s}"\n',
    "another-decorator": "@register\nclass P:\n    x: int\n",
    "dataclasses-field": "from dataclasses import field\n",
    "for-over-awaited": "async def m():\n    for v in await items():\n        pass\n",
    "await": "async def m():\n    return await c.__aenter__()\n",
    "generator-in-a-coroutine": (
        "async def m():\n    def gen():\n        yield 1\n    return list(gen())\n"
    ),
    "generator": "def gen():\n    yield 1\n    yield from other()\n",
    "except": "try:\n    pass\nexcept ValueError:\n    pass\n",
    "chained-comparison-of-names": "ok = 0 <= self.x < w\n",
    "comparison-of-a-call": "ok = f() < 10\n",
    "isinstance-of-a-tuple": "ok = isinstance(x, (int, str))\n",
    "union-in-annotations": "def f(x: int | None) -> int | str:\n    return 1\n",
    "bitwise-or": "bits = 1 | 2\n",
    "del-name": "del x\n",
    "pop": "xs.pop(0)\n",
    "print-sep": 'print(a, b, sep="-")\n',
    "str-format-plain": 's = "{}-{0}-{name}".format(x, name=y)\n',
    "modulo": "r = n % 3\n",
    "with": "with m:\n    pass\n",
    "slots-named-otherwise": "class P:\n    slots = ('x',)\n",
    "star-args-in-a-call": "f(*args, **kw)\n",
    "indexed-assignment": "first, rest = xs[0], xs[1:]\n",
    "dict-call": "d = dict(a)\n",
    "repr": "s = repr(x)\n",
    "index": "x = xs[1]\n",
    "negative-slice": "tail = xs[-2:]\n",
    "negative-index": "last = xs[-1]\n",
    "negative-index-stored": "xs[-1] = 9\n",
    "negative-index-of-a-name": "nth = xs[-n]\n",
    "constant-defaults": "def f(n=1, name='x', flag=None, *, size=SIZE, v=-1):\n    pass\n",
    "factory": "def make(i):\n    return lambda: i\n",
    "getattr": 's = getattr(o, "x")\n',
    "set-comprehension": "s = {x for x in xs}\n",
    "dict-comprehension": "d = {x: 1 for x in xs}\n",
    "generator-expression": "n = sum(x for x in xs)\n",
    "augmented-assignment": "n += 1\n",
    "in-place-or-of-names": "flags |= more\n",
    "str-format-malformed": 's = "{".format(x)\n',
    "strip": "s = t.strip()\n",
    "lstrip-and-rstrip": "s = t.lstrip() + t.rstrip()\n",
    "strip-of-none": "s = t.strip(None)\n",
    "sum": "n = sum(xs)\n",
    "sum-from-zero": "n = sum(xs, 0)\n",
    "start-added": "n = 10 + sum(xs)\n",
    "int": 'n = int("12")\n',
    "int-base-ten": 'n = int("12", 10) + int(s, base=10)\n',
    "min-of-a-list": "m = min(xs) + max([v for v in xs]) + min(1, 2)\n",
    "min-of-a-map": "m = min(map(abs, xs)) + max(range(3))\n",
    "sorted-of-a-list-comprehension": "m = sorted([v for v in xs], key=f)\n",
    "list-of-a-generator": "m = list(v for v in xs)\n",
    "any-of-a-generator": "ok = any(v for v in xs) and all(v for v in xs)\n",
    "join-of-a-generator": 's = ",".join(str(v) for v in xs)\n',
    "str-methods-defined": "s = t.lower().capitalize().replace('a', 'b').rsplit('.', 1)\n",
    "find": 'i = t.find("a") + t.rfind("a")\n',
    "index-of-a-list": "i = xs.index(x) + [1, 2].index(2)\n",
    "a-component-s-own-method": "t = self.title() + cls.count(x)\n",
    "a-function-named-title": "t = title(s)\n",
    "encode-and-translate": "b = TextEncoder().encode(s) + i18n.translate(key)\n",
}
"""By case: the near miss of a rejected construct, which Transcrypt compiles right."""


@pytest.mark.parametrize(("source", "construct", "where"), REJECTED.values(), ids=REJECTED)
def test_a_construct_transcrypt_compiles_wrongly_is_found_where_it_stands(source, construct, where):
    [finding] = lint_source(source)
    assert (finding.construct, (finding.line, finding.column)) == (construct, where)


@pytest.mark.parametrize("source", ACCEPTED.values(), ids=ACCEPTED)
def test_its_near_miss_is_accepted(source):
    assert lint_source(source) == []


def test_a_negative_index_is_accepted_because_every_compile_overloads_operators():
    # xs[-1] reads None and stores nothing without -o; atoll compiles with it, where it is
    # right, so the pass accepts it (ACCEPTED above) only while the flags hold -o.
    assert "-o" in FLAGS
    assert lint_source("xs[-1] = xs[-2]\n") == []


def test_every_rule_has_a_case_it_rejects():
    found = {construct for _, construct, _ in REJECTED.values()} | {"syntax-error"}
    assert found == {rule.construct for rule in RULES}


def test_a_finding_reads_path_line_column_message_and_rewrite():
    [finding] = lint_source("x = 1\nif (n := 2):\n    pass\n", "ui/card.py")
    assert str(finding) == (
        "ui/card.py:2:5: the walrus operator (:=) compiles to a name that does not exist;"
        " assign on a line of its own first"
    )


def test_the_rules_own_message_and_rewrite_are_the_finding_s():
    [finding] = lint_source("match v:\n    case _:\n        pass\n")
    assert finding == Finding(
        "<component>",
        1,
        1,
        "match",
        "a match statement compiles to JavaScript that does not parse",
        "use if/elif on the value",
    )


def test_a_missing_method_s_finding_names_the_method_and_its_own_rewrite():
    [zfill, count] = lint_source("s = t.zfill(2) + str(xs.count(1))\n")
    assert (zfill.message, zfill.rewrite) == (
        "str.zfill() is not defined in the JavaScript: calling it is a TypeError",
        "pad it: '0' * (n - len(s)) + s",
    )
    assert count.message.startswith("neither str.count() nor list.count() is defined")
    assert count.rewrite.startswith("count a list's with len([v for v in xs if v == x])")


def test_several_findings_come_in_file_order():
    source = (
        "@dataclass\n"
        "class P:\n"
        "    def m(self, a, /):\n"
        '        return f"{a:.2f}" if (b := a) else f"{a!r}"\n'
        "match P:\n"
        "    case _:\n"
        "        pass\n"
    )
    found = [(f.line, f.column, f.construct) for f in lint_source(source)]
    assert found == [
        (1, 2, "dataclass"),
        (3, 11, "positional-only"),
        (4, 16, "format-spec"),
        (4, 31, "walrus"),
        (4, 44, "conversion"),
        (5, 1, "match"),
    ]


def test_a_column_counts_characters_not_bytes():
    [finding] = lint_source('s = "été"; (n := 1)\n')
    assert finding.column == 13


def test_a_syntax_error_is_a_finding_at_its_line():
    [finding] = lint_source("x = 1\ndef f(:\n", "ui/bad.py")
    assert (finding.path, finding.line, finding.construct) == ("ui/bad.py", 2, "syntax-error")
    assert str(finding).startswith("ui/bad.py:2:")
    assert "not valid Python: " in finding.message
    assert finding.rewrite == "fix the syntax first: nothing else in the file was checked"


def test_a_null_byte_is_a_syntax_error_finding():
    [finding] = lint_source("x = 1\0\n")
    assert (finding.line, finding.column, finding.construct) == (1, 1, "syntax-error")


def test_lint_file_names_the_findings_by_the_file_s_path(tmp_path):
    component = tmp_path / "card.py"
    component.write_text('title = "x"\nlabel = f"{price:.2f}"\n')
    [finding] = lint_file(component)
    assert str(finding).startswith(f"{component}:2:9: a format spec")


def test_lint_file_reads_the_coding_cookie(tmp_path):
    component = tmp_path / "card.py"
    component.write_bytes('# -*- coding: latin-1 -*-\ns = "é"; (n := 1)\n'.encode("latin-1"))
    [finding] = lint_file(component)
    assert (finding.line, finding.column) == (2, 11)


def test_a_file_that_does_not_decode_is_a_syntax_error_finding(tmp_path):
    component = tmp_path / "card.py"
    component.write_bytes(b's = "\xff"\n')
    [finding] = lint_file(component)
    assert (finding.path, finding.construct) == (str(component), "syntax-error")


def test_lint_module_lints_the_module_s_file_without_importing_it(tmp_path, monkeypatch):
    package = tmp_path / "lint_probe_ui"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "card.py").write_text("raise SystemExit('imported')\nx = f'{y!r}'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    [finding] = lint_module("lint_probe_ui.card")
    assert (finding.path, finding.line) == (str(package / "card.py"), 2)
    assert "lint_probe_ui.card" not in sys.modules
    sys.modules.pop("lint_probe_ui", None)  # its parent package, which find_spec imported


def test_lint_module_of_a_name_that_finds_nothing_is_a_target_error():
    with pytest.raises(TargetError, match="'no_such_ui_module': no module of that name"):
        lint_module("no_such_ui_module")


def test_lint_module_under_a_missing_package_is_a_target_error():
    with pytest.raises(TargetError, match=r"'no_such_ui\.card': No module named 'no_such_ui'"):
        lint_module("no_such_ui.card")


def test_lint_module_of_a_module_without_source_is_a_target_error():
    with pytest.raises(TargetError, match="'sys': it has no Python source"):
        lint_module("sys")


def test_lint_module_of_a_namespace_package_is_a_target_error(tmp_path, monkeypatch):
    (tmp_path / "lint_probe_namespace").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TargetError, match=r"no Python source \(a namespace package\)"):
        lint_module("lint_probe_namespace")


def test_import_atoll_does_not_load_the_frontends():
    probe = "import sys, atoll; print('atoll.frontends' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "False"


def test_the_reference_page_lists_every_rule():
    page = (Path(__file__).parents[2] / "docs" / "reference" / "frontends.md").read_text()
    missing = [rule.construct for rule in RULES if f"`{rule.construct}`" not in page]
    assert missing == []


def test_many_threads_lint_at_once():
    # A service builds its components in threads, each linting: once, in the suite, two
    # parses at once failed with CPython 3.11's "AST constructor recursion depth mismatch".
    # The lint parses one source at a time since; here many threads lint at once, alike.
    source = "def f(x):\n    return [[[[[[x]]]]]]\n" * 200
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _: lint_source(source), range(64)))
    assert found == [[]] * 64
