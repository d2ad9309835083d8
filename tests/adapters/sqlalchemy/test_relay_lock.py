"""One relay at a time claims from a SQLite file: the others claim nothing meanwhile."""

import logging

from atoll.adapters.sqlalchemy import SqlDatabase
from atoll.messaging.envelope import seal
from atoll.persistence.options import DatabaseOptions
from atoll.persistence.schema import Schema


async def test_a_second_relay_of_one_sqlite_file_claims_nothing_until_the_first_lets_go(
    tmp_path, caplog
):
    options = DatabaseOptions(data_dir=str(tmp_path))
    first = SqlDatabase(options, Schema(), "crates")
    second = SqlDatabase(options, Schema(), "crates")
    await first.start()
    await second.start()
    try:
        transaction = await first.begin()
        await transaction.commit([seal({"n": 1})], None)
        claim = await first.claim_outbox(10)
        assert len(claim.records) == 1
        await claim.settle([])
        with caplog.at_level(logging.INFO, "atoll.outbox"):
            empty = await second.claim_outbox(10)
            assert list(empty.records) == []
            await empty.settle([])
            await (await second.claim_outbox(10)).settle([])
        assert caplog.text.count("another relay holds") == 1
        assert (tmp_path / "crates.db.relay-lock").exists()
        await first.stop()
        taken = await second.claim_outbox(10)
        assert len(taken.records) == 1
        await taken.settle([taken.records[0].position])
    finally:
        await first.stop()
        await second.stop()
