"""Where orders are kept: their table, and how an order maps to it."""

import sqlalchemy as sa

import atoll

from .model import Order

metadata = sa.MetaData()
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("item", sa.String, nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
)

schema = atoll.Schema(metadata)
schema.map(Order, orders)
