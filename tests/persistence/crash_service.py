"""A bank that tests/persistence/test_crashes.py runs as a real process, and kills with SIGKILL.

::

    python crash_service.py --db-url URL --server-port 0 [--crash-after-commit KEY]
                            [--crash-in-consumer KEY]

``POST /deposit`` ``{"account_id": "a", "amount": 5, "key": "k1"}`` adds ``amount`` to the
account (made on its first deposit, versioned) and keeps a receipt of the command under its
``key``, in one unit of work; the account raises ``Deposited``, which the commit writes to the
outbox. The consumer, ``keep_ledger``, appends one row to ``crash_ledger`` for each
``Deposited`` it handles: that table has no unique constraint, so an effect applied twice is
two rows, and one lost is none.

The crash points are the service's own code, not hooks in atoll: ``--crash-after-commit KEY``
kills the process right after the deposit ``KEY`` commits, with no ``await`` in between (so
that the relay cannot have published its event); ``--crash-in-consumer KEY`` kills it right
after the consumer of that deposit's event commits, before the relay marks the outbox record
sent.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field

import sqlalchemy as sa

import atoll
from atoll.persistence.repository import Repository
from atoll.persistence.schema import Schema
from atoll.persistence.unit_of_work import UnitOfWork

metadata = sa.MetaData()
accounts = sa.Table(
    "crash_account",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("balance", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)
receipts = sa.Table(
    "crash_receipt",
    metadata,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("account_id", sa.String(40), nullable=False),
    sa.Column("amount", sa.Integer, nullable=False),
)
# No unique constraint on key, on purpose: the ledger shows every effect, twice if applied twice.
ledger = sa.Table(
    "crash_ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(40), nullable=False),
    sa.Column("account_id", sa.String(40), nullable=False),
    sa.Column("amount", sa.Integer, nullable=False),
)


@dataclass(frozen=True)
class Deposit:
    """A command: add ``amount`` to an account; ``key`` names this deposit."""

    account_id: str
    amount: int
    key: str


@dataclass(frozen=True)
class Deposited:
    """An event: an account received a deposit."""

    account_id: str
    key: str
    amount: int


@dataclass
class Account:
    """An aggregate with a versioned balance."""

    id: str
    balance: int = 0
    version: int = 0
    events: list[object] = field(default_factory=list, compare=False, repr=False)

    def deposit(self, key: str, amount: int) -> None:
        """Add ``amount``, and raise the event saying so."""
        self.balance += amount
        self.events.append(Deposited(self.id, key, amount))


@dataclass
class Receipt:
    """The command's own trace, committed with the account: the deposit ``key`` happened."""

    key: str
    account_id: str
    amount: int


@dataclass
class LedgerEntry:
    """One effect of the consumer: a row per ``Deposited`` it handled."""

    id: int | None
    key: str
    account_id: str
    amount: int


class BankUnitOfWork(UnitOfWork):
    """The bank's repositories."""

    accounts: Repository[Account]
    receipts: Repository[Receipt]
    ledger: Repository[LedgerEntry]


@dataclass(frozen=True)
class CrashOptions:
    """Where the process kills itself with SIGKILL: the key of a deposit, or none."""

    after_commit: str = atoll.option("", help="die right after this deposit commits")
    in_consumer: str = atoll.option("", help="die right after this deposit's consumer commits")


schema = Schema(metadata)
schema.map(Account, accounts, version="version")
schema.map(Receipt, receipts, id="key")
schema.map(LedgerEntry, ledger)

service = atoll.Service("crash")
service.database(schema, BankUnitOfWork)
service.options("crash", CrashOptions)


def die() -> None:
    """End the process at once, as a power cut would: no cleanup, no flush, no await."""
    os.kill(os.getpid(), signal.SIGKILL)


@service.command(Deposit)
async def deposit(command: Deposit, uow: BankUnitOfWork, crash: CrashOptions) -> int:
    """Add to the account and keep the receipt; the account's new balance."""
    async with uow:
        account = await uow.accounts.get(command.account_id)
        if account is None:
            account = await uow.accounts.add(Account(command.account_id))
        account.deposit(command.key, command.amount)
        await uow.receipts.add(Receipt(command.key, command.account_id, command.amount))
        await uow.commit()
        if command.key == crash.after_commit:
            die()
    return account.balance


@service.on(Deposited)
async def keep_ledger(event: Deposited, uow: BankUnitOfWork, crash: CrashOptions) -> None:
    """Append the deposit to the ledger; the inbox skips a redelivered event."""
    async with uow:
        await uow.ledger.add(LedgerEntry(None, event.key, event.account_id, event.amount))
        await uow.commit()
        if event.key == crash.in_consumer:
            die()


if __name__ == "__main__":
    atoll.main(service)
