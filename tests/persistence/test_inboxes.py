"""The inboxes: whether every handler of a message committed it, asked of each service's own."""

from atoll.messaging.envelope import Envelope
from atoll.persistence.inboxes import Inboxes
from atoll.persistence.memory import MemoryDatabase
from atoll.persistence.options import DatabaseOptions
from atoll.persistence.schema import Schema

ENVELOPE = Envelope("m-1", "shop.Shipped", b"{}")


async def database(service, *consumers):
    made = MemoryDatabase(DatabaseOptions(url="memory://"), Schema(), service)
    for consumer in consumers:
        transaction = await made.begin()
        await transaction.commit([], (consumer, ENVELOPE.id))
    return made


async def test_a_message_every_handler_committed_is_committed():
    inboxes = Inboxes()
    inboxes.add("shop", await database("shop", "shop.book", "shop.notify"))
    inboxes.add("stats", await database("stats", "stats.count"))
    assert await inboxes.committed(ENVELOPE, ("shop.book", "shop.notify", "stats.count"))


async def test_a_message_one_handler_did_not_commit_is_not():
    inboxes = Inboxes()
    inboxes.add("shop", await database("shop", "shop.book"))
    assert not await inboxes.committed(ENVELOPE, ("shop.book", "shop.notify"))


async def test_a_service_with_no_database_keeps_no_inbox_and_no_consumer_none_committed():
    inboxes = Inboxes()
    inboxes.add("shop", await database("shop", "shop.book"))
    assert not await inboxes.committed(ENVELOPE, ("mail.send",))
    assert not await inboxes.committed(ENVELOPE, ())
    assert repr(inboxes) == "Inboxes(['shop'])"
