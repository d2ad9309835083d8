"""Services apart, on one broker: events through the outbox, RPC, dead letters, readiness.

Each service runs as its own application, as in its own process, on a shared in-memory broker
(``memory://NAME``); the adapters of real brokers pass the same contract
(tests/adapters/test_*_broker.py).
"""

import asyncio
import signal
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import atoll
from atoll.clients.directory import ClientOptions
from atoll.errors import ConfigError, DatabaseUnavailableError, RemoteUnavailableError
from atoll.kernel.health import Readiness
from atoll.messaging.broker import Broker, open_broker
from atoll.messaging.envelope import seal
from atoll.messaging.memory_broker import MemoryBroker
from atoll.messaging.options import BrokerOptions
from atoll.persistence.inboxes import Inboxes
from atoll.service.broker_link import BrokerLink, subscription_of
from atoll.testing import run

HERE = Path(__file__).parent


@dataclass
class Order:
    id: int | None
    item: str = ""
    events: list[object] = field(default_factory=list, compare=False, repr=False)


@dataclass(frozen=True)
class PlaceOrder:
    item: str


@dataclass(frozen=True)
class OrderPlaced:
    order_id: int
    item: str


class OrdersUnitOfWork(atoll.UnitOfWork):
    orders: atoll.Repository[Order]


schema = atoll.Schema()
schema.map(Order)
orders = atoll.Service("orders")
orders.database(schema, OrdersUnitOfWork)


@orders.command(PlaceOrder)
async def place_order(command: PlaceOrder, uow: OrdersUnitOfWork) -> int:
    async with uow:
        order = await uow.orders.add(Order(None, command.item))
        order.events.append(OrderPlaced(order.id, command.item))
        await uow.commit()
    return order.id


@orders.rpc
async def count_orders(uow: OrdersUnitOfWork) -> int:
    async with uow:
        return len(await uow.orders.find())


mail = atoll.Service("mail")
SENT: list[tuple[str, OrderPlaced]] = []


@mail.on(OrderPlaced)
async def send_mail(event: OrderPlaced, delivery: atoll.Delivery) -> None:
    if event.item == "poison":
        raise ValueError("cannot mail about poison")
    SENT.append((delivery.headers.get("sender", ""), event))


@mail.rpc
async def orders_seen(clients: atoll.Clients) -> int:
    return await clients.get("orders").methods.count_orders()


def flags(url, *extra):
    return [
        "--broker-url",
        url,
        "--broker-retry-backoff",
        "0.01",
        "--broker-deliveries",
        "2",
        *extra,
    ]


async def until(condition, patience=5.0):
    for _ in range(int(patience / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


@pytest.fixture
def url():
    SENT.clear()
    return f"memory://link-{uuid.uuid4().hex}"


async def test_an_event_committed_by_one_service_reaches_another_through_the_broker(url):
    async with (
        run(orders, argv=flags(url, "--db-url", "memory://")) as shop,
        run(mail, argv=flags(url)) as mailer,
    ):
        order_id = await shop.send(PlaceOrder("book"))
        await until(lambda: len(SENT) == 1)
        assert SENT[0][1] == OrderPlaced(order_id, "book")
        # The event crossed the broker: the orders process has no handler of it.
        assert shop.bus.event_handlers(OrderPlaced) == []
        assert mailer.bus.event_handlers(OrderPlaced) != []


async def test_a_message_failing_every_delivery_is_a_dead_letter_and_later_ones_go_on(url):
    async with (
        run(orders, argv=flags(url, "--db-url", "memory://")) as shop,
        run(mail, argv=flags(url)) as mailer,
    ):
        await shop.send(PlaceOrder("poison"))
        await shop.send(PlaceOrder("pen"))
        broker = await mailer.container.aget(Broker)
        await until(lambda: len(SENT) == 1)
        for _ in range(500):
            dead = await broker.dead_letters("mail")
            if dead:
                break
            await asyncio.sleep(0.01)
        [letter] = dead
        assert letter.deliveries == 2
        assert "send_mail" in letter.error
        assert SENT[0][1].item == "pen"


async def test_a_remote_service_is_called_over_the_broker_without_a_url(url):
    async with (
        run(orders, argv=flags(url, "--db-url", "memory://")) as shop,
        run(mail, argv=flags(url)) as mailer,
    ):
        await shop.send(PlaceOrder("book"))
        await shop.send(PlaceOrder("pen"))
        assert await mailer.rpc.methods.orders_seen() == 2


async def test_a_method_called_over_the_broker_reads_a_broker_request(url):
    counter = atoll.Service("counter")

    @counter.rpc
    async def transport(request: atoll.Request, response: atoll.Response) -> str:
        response.headers["x-ignored"] = "off HTTP, a response goes nowhere"
        return request.transport

    async with (
        run(counter, argv=flags(url)) as served,
        run(mail, argv=flags(url)) as mailer,
    ):
        clients = await mailer.container.aget(atoll.Clients)
        assert await clients.get("counter").methods.transport() == "broker"
        assert await served.rpc.methods.transport() == "local"


async def test_a_remote_service_not_running_is_unavailable_over_the_broker(url):
    async with run(mail, argv=flags(url)) as mailer:
        clients = await mailer.container.aget(atoll.Clients)
        with pytest.raises(RemoteUnavailableError, match="no instance of 'orders'"):
            await clients.get("orders").methods.count_orders()


async def test_rpc_over_the_broker_can_be_turned_off(url):
    async with (
        run(orders, argv=flags(url, "--db-url", "memory://", "--no-broker-rpc")),
        run(mail, argv=flags(url)) as mailer,
    ):
        clients = await mailer.container.aget(atoll.Clients)
        with pytest.raises(RemoteUnavailableError):
            await clients.get("orders").methods.count_orders()


async def test_readiness_checks_the_broker(url):
    async with run(mail, argv=flags(url)) as mailer:
        readiness = await mailer.container.aget(Readiness)
        broker = await mailer.container.aget(Broker)
        report = await readiness.report()
        assert report.checks["broker"] == "ok"
        broker.stopped = True  # as a broker out of reach
        report = await readiness.report()
        assert report.ready is False
        assert "is stopped" in report.checks["broker"]
        broker.stopped = False


async def test_readiness_checks_each_consumer_s_dependencies(url):
    async with run(mail, argv=flags(url)) as mailer:
        readiness = await mailer.container.aget(Readiness)
        [consumer] = (await mailer.container.aget(BrokerLink)).consumers
        assert (await readiness.report()).checks["consumer mail"] == "ok"
        consumer.outage.failed(DatabaseUnavailableError("cannot reach PostgreSQL at db:5432"))
        report = await readiness.report()
        assert report.ready is False
        assert "cannot reach its database" in report.checks["consumer mail"]
        consumer.outage.recovered()
        assert (await readiness.report()).checks["consumer mail"] == "ok"


async def test_a_consumer_asks_the_inbox_of_its_service_s_database(url):
    async with run(orders, argv=flags(url, "--db-url", "memory://")) as shop:
        inboxes = await shop.container.aget(Inboxes)
        [consumer] = (await shop.container.aget(BrokerLink)).consumers
        assert repr(inboxes) == "Inboxes(['orders'])"
        assert consumer.committed == inboxes.committed
        assert not await inboxes.committed(seal(PlaceOrder("book")), ("orders.place_order",))


async def test_the_default_broker_is_the_applications_own_in_its_memory():
    async with run(mail) as mailer:
        options = await mailer.container.aget(BrokerOptions)
        link = await mailer.container.aget(BrokerLink)
        readiness = await mailer.container.aget(Readiness)
        assert options.private
        assert [c.service for c in link.consumers] == ["mail"]  # consumed as on any broker
        assert "broker" not in (await readiness.report()).checks  # up while the process is


async def test_the_broker_is_chosen_by_broker_for_short(url):
    async with run(mail, argv=["--broker", url]) as mailer:
        options = await mailer.container.aget(BrokerOptions)
        link = await mailer.container.aget(BrokerLink)
        assert options.url == url
        assert [c.service for c in link.consumers] == ["mail"]


async def test_a_broker_url_of_no_adapter_names_the_ones_there_are():
    with pytest.raises(ConfigError, match=r"'kafka://u:\*+@h' .*nats://.*amqp://.*redis://") as e:
        async with run(mail, argv=["--broker-url", "kafka://u:s3cret@h"]):
            pass
    assert "s3cret" not in str(e.value)


async def test_a_bad_broker_option_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="deliveries must be 1 or more"):
        async with run(mail, argv=["--broker-deliveries", "0"]):
            pass


def test_a_service_takes_the_events_it_handles_and_what_is_sent_to_it():
    options = BrokerOptions(url="memory://x")
    subscription = subscription_of(mail, options)
    assert subscription.service == "mail"
    assert subscription.events == (f"{OrderPlaced.__module__}.OrderPlaced",)
    assert subscription_of(orders, options).events == ()  # commands only: its own queue
    assert subscription_of(atoll.Service("idle"), options) is None


async def test_the_link_says_what_it_links_and_kill_stops_its_consumers_at_once():
    async with run(mail, argv=flags(f"memory://repr-{uuid.uuid4().hex}")) as mailer:
        link = await mailer.container.aget(BrokerLink)
        assert repr(link).startswith("BrokerLink(memory://repr-")
        assert repr(link).endswith("1 consumer(s))")
        [consumer] = link.consumers
        fetching = consumer._task
        link.kill()
        await until(fetching.done)
        assert fetching.cancelled()


async def test_a_link_whose_start_fails_stops_what_it_had_started(url, monkeypatch):
    real = MemoryBroker.subscribe
    calls = []

    async def failing(self, subscription):
        calls.append(subscription.service)
        if subscription.service == "mail":
            raise RuntimeError("cannot subscribe mail")
        return await real(self, subscription)

    monkeypatch.setattr(MemoryBroker, "subscribe", failing)
    system = atoll.System(orders, mail, name="shop")
    argv = [*flags(url), "--orders-db-url", "memory://"]
    with pytest.raises(RuntimeError, match="cannot subscribe mail"):
        async with run(system, argv=argv):
            pass
    assert calls == ["orders", "mail"]
    broker = MemoryBroker(url)
    assert broker.state.responders["orders"] == []  # its serving closed
    # the orders consumer, started before mail failed, stopped with it
    await broker.send(atoll_envelope := seal_place("pen"), "orders")
    assert [m.envelope.id for m in broker.state.queue("orders").ready] == [atoll_envelope.id]


def seal_place(item):
    return seal(PlaceOrder(item))


async def test_a_notification_over_the_broker_is_taken_and_answers_nothing(url):
    async with (
        run(orders, argv=flags(url, "--db-url", "memory://")),
        run(mail, argv=flags(url)) as mailer,
    ):
        clients = await mailer.container.aget(atoll.Clients)
        assert await clients.get("orders").notifications.count_orders() is None


async def test_a_url_given_for_a_service_wins_over_the_broker(url):
    async with run(
        mail, argv=[*flags(url), "--clients-urls", "orders=http://127.0.0.1:1/rpc"]
    ) as m:
        clients = await m.container.aget(atoll.Clients)
        assert clients.get("orders").url == "http://127.0.0.1:1/rpc"


async def test_two_services_of_one_process_each_consume_their_own_through_the_broker(url):
    system = atoll.System(orders, mail, name="shop")
    argv = [*flags(url), "--orders-db-url", "memory://"]
    async with run(system, argv=argv) as shop:
        link = await shop.container.aget(BrokerLink)
        assert sorted(c.service for c in link.consumers) == ["mail", "orders"]
        order_id = await shop.send(PlaceOrder("lamp"))
        await until(lambda: len(SENT) == 1)
        assert len(SENT) == 1  # once, by mail's consumer
        assert SENT[0] == ("orders", OrderPlaced(order_id, "lamp"))
        assert {c.service: c.handled for c in link.consumers} == {"mail": 1, "orders": 0}


NATS_URL = "nats://127.0.0.1:4222"


@pytest.mark.slow
@pytest.mark.services("nats")
async def test_a_worker_process_without_http_answers_rpc_over_a_real_broker(spawn):
    process = spawn(
        sys.executable,
        "-m",
        "atoll",
        "run",
        "doubler_service:service",
        "--no-server",
        "--broker-url",
        NATS_URL,
        cwd=str(HERE),
    )
    await asyncio.to_thread(process.wait_for, "doubler ready")
    broker = open_broker(NATS_URL)
    await broker.start()
    try:
        clients = atoll.Clients(ClientOptions(), broker=broker)
        assert await clients.get("doubler").methods.double(number=21) == 42
        await clients.aclose()
    finally:
        await broker.stop()
    process.signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.finish) == 0
    assert "serving on" not in process.output
