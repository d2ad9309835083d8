"""``atoll.adapters.yaml``: YAML written the same way each time, as a person writes it."""

import yaml

from atoll.adapters.yaml import dump, dump_all


def test_documents_keep_the_order_of_their_keys_and_write_no_anchors():
    shared = {"b": 1, "a": [1, 2]}
    text = dump({"z": shared, "y": shared, "text": "one\ntwo\n"})
    block = "  b: 1\n  a:\n    - 1\n    - 2\n"
    assert text == f"z:\n{block}y:\n{block}text: |\n  one\n  two\n"
    assert list(yaml.safe_load_all(dump_all([{"a": 1}, {"b": 2}]))) == [{"a": 1}, {"b": 2}]
