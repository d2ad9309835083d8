"""The harness relays what units of work commit, so a test sees their events handled."""

from dataclasses import dataclass

import atoll
import atoll.testing
from atoll.messaging.envelope import message_type, seal
from atoll.persistence.repository import Repository
from atoll.persistence.schema import Schema
from atoll.persistence.unit_of_work import UnitOfWork


@dataclass
class Parcel:
    id: int | None


@dataclass(frozen=True)
class Post:
    to: str


@dataclass(frozen=True)
class Posted:
    parcel: int
    to: str


@dataclass(frozen=True)
class Delivered:
    parcel: int


class PostUnits(UnitOfWork):
    parcels: Repository[Parcel]


def post_office(relay=True):
    schema = Schema()
    schema.map(Parcel)
    service = atoll.Service("post")
    service.database(schema, PostUnits)
    handled = []

    @service.command(Post)
    async def post(command: Post, uow: PostUnits) -> int:
        async with uow:
            parcel = await uow.parcels.add(Parcel(None))
            uow.publish(Posted(parcel.id, command.to))
            await uow.commit()
        return parcel.id

    @service.on(Posted)
    async def deliver(event: Posted, uow: PostUnits) -> None:
        async with uow:
            uow.publish(Delivered(event.parcel))
            await uow.commit()
        handled.append(event)

    argv = ["--db-url", "memory://"] + ([] if relay else ["--no-db-relay"])
    return service, handled, argv


async def test_send_returns_once_the_committed_events_and_theirs_are_handled():
    service, handled, argv = post_office()
    async with atoll.testing.run(service, argv=argv) as harness:
        assert await harness.send(Post("ada")) == 1
        assert handled == [Posted(1, "ada")]
        assert harness.events == [Posted(1, "ada"), Delivered(1)]
        assert await harness.settle() == 0


async def test_a_relay_turned_off_is_left_alone():
    service, handled, argv = post_office(relay=False)
    async with atoll.testing.run(service, argv=argv) as harness:
        await harness.send(Post("ada"))
        assert handled == []
        assert harness.events == []


async def test_published_events_are_settled_too():
    service, handled, argv = post_office()
    async with atoll.testing.run(service, argv=argv) as harness:
        await harness.publish(Posted(7, "bo"))
        assert handled == [Posted(7, "bo")]
        assert harness.events_of(Delivered) == [Delivered(7)]


def test_a_message_type_is_found_by_its_name_or_not_at_all():
    assert message_type(seal(Posted(1, "a")).type) is Posted
    assert message_type(f"{__name__}.Nothing") is None
    assert message_type(f"{__name__}.post_office") is None  # a function, not a type
    assert message_type("no_such_module.Posted") is None
    assert message_type("Posted") is None


async def test_an_event_delivered_again_after_a_failure_is_handled_and_recorded_once():
    service, _, argv = post_office()
    failures = [RuntimeError("van away")]
    signed = []

    @service.on(Delivered)
    async def sign(event: Delivered) -> None:
        if failures:
            raise failures.pop()
        signed.append(event)

    async with atoll.testing.run(service, argv=argv) as harness:
        await harness.send(Post("ada"))  # returns once the second delivery is handled
        assert signed == [Delivered(1)]
        assert harness.events == [Posted(1, "ada"), Delivered(1)]


async def test_a_json_rpc_call_returns_once_what_it_committed_is_handled():
    service, handled, argv = post_office()
    async with atoll.testing.run(service, argv=argv) as harness:
        assert await harness.rpc.methods.post(to="bo") == 1
        assert handled == [Posted(1, "bo")]
        await harness.rpc.notifications.post(to="cy")
        assert handled == [Posted(1, "bo"), Posted(2, "cy")]


@atoll.message("post.Shipped")
@dataclass(frozen=True)
class Shipped:
    parcel: int
    to: str


@atoll.message("post.Shipped")
@dataclass(frozen=True)
class ShippedAsMailSeesIt:
    """A consumer's own declaration of the post office's event: the same name on the wire."""

    parcel: int


async def test_a_relayed_event_is_read_as_any_type_of_its_name_on_the_wire():
    schema = Schema()
    schema.map(Parcel)
    service = atoll.Service("post")
    service.database(schema, PostUnits)

    @service.command(Post)
    async def ship(command: Post, uow: PostUnits) -> None:
        async with uow:
            uow.publish(Shipped(7, command.to))
            await uow.commit()

    async with atoll.testing.run(service, argv=["--db-url", "memory://"]) as harness:
        await harness.send(Post("ada"))
        assert harness.events_of(Shipped) == [Shipped(7, "ada")]
        assert harness.events_of(ShippedAsMailSeesIt) == [ShippedAsMailSeesIt(7)]
        assert len(harness.events) == 1
