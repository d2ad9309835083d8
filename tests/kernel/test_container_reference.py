"""The examples of docs/reference/container.md run against atoll.kernel.container as printed."""

import re
from pathlib import Path

import pytest

REFERENCE = Path(__file__).parents[2] / "docs" / "reference" / "container.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def test_the_reference_examples_run_and_their_error_texts_are_exact():
    """Each python block runs in turn; one followed by a text block raises exactly that text."""
    blocks = FENCE.findall(REFERENCE.read_text(encoding="utf-8"))
    namespace = {"__name__": "container_reference"}
    checked = 0
    following = [*blocks[1:], ("", "")]
    for number, ((language, source), (after, text)) in enumerate(
        zip(blocks, following, strict=True), 1
    ):
        if language != "python":
            continue
        code = compile(source, f"{REFERENCE.name}, block {number}", "exec")
        if after != "text":
            exec(code, namespace)  # noqa: S102 - the documentation's own examples
            continue
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the text below says which
            exec(code, namespace)  # noqa: S102 - the documentation's own examples
        assert " ".join(str(caught.value).split()) == " ".join(text.split()), source
        checked += 1
    assert checked == sum(language == "text" for language, _ in blocks) > 20
