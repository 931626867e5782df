"""Money in each currency's minor unit: JPY in yen, KWD and BHD in thousandths.

Revision 0002, after 0001: plughost-crm 0.2. 0.1 stored every amount in hundredths. Each deal
now records the digits of the minor unit its amount is stored in (``amount_digits``), and every
row is converted to its currency's digits (from Babel's ISO 4217 data, as the plugin uses them)
where that is exact: KWD 1.5 was 150 and becomes 1500 with 3 digits; JPY 1000 was 100000 and
becomes 1000 with 0. A row whose amount its currency cannot hold exactly (JPY 12.34, from
before 0.2 checked decimal places) stays in hundredths, with its value unchanged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from babel.numbers import get_currency_precision

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

deals = sa.table(
    "crm_deals",
    sa.column("currency", sa.String),
    sa.column("amount_minor", sa.BigInteger),
    sa.column("amount_digits", sa.SmallInteger),
)


def upgrade() -> None:
    op.add_column(
        "crm_deals",
        sa.Column("amount_digits", sa.SmallInteger(), nullable=False, server_default="2"),
    )
    bind = op.get_bind()
    for currency in bind.execute(sa.select(deals.c.currency).distinct()).scalars():
        of_currency = deals.c.currency == currency
        _rescale(of_currency, 2, int(get_currency_precision(currency)))


def downgrade() -> None:
    """Back to hundredths: refused for amounts with a third decimal place 0.1 cannot hold."""
    bind = op.get_bind()
    stored = list(bind.execute(sa.select(deals.c.amount_digits).distinct()).scalars())
    finer = sum(_inexact(digits, 2) for digits in stored if digits > 2)
    if finer:
        raise RuntimeError(
            f"cannot go back to plughost-crm 0.1: {finer} deal(s) have amounts with more than "
            "2 decimal places (KWD, BHD, ...), which 0.1 stores in hundredths"
        )
    for digits in stored:
        _rescale(deals.c.amount_digits == digits, digits, 2)
    with op.batch_alter_table("crm_deals") as batch:
        batch.drop_column("amount_digits")


def _inexact(old: int, new: int) -> int:
    """How many rows stored with ``old`` digits would lose a digit at ``new``."""
    factor = 10 ** (old - new)
    at_old = (deals.c.amount_digits == old) & (deals.c.amount_minor % factor != 0)
    count = sa.select(sa.func.count()).select_from(deals).where(at_old)
    return int(op.get_bind().execute(count).scalar_one())


def _rescale(rows: sa.ColumnElement[bool], old: int, new: int) -> None:
    """``rows`` (stored with ``old`` digits) to ``new`` digits, those where that is exact."""
    if new == old:
        return
    if new > old:
        minor = deals.c.amount_minor * 10 ** (new - old)
    else:
        factor = 10 ** (old - new)
        rows = rows & (deals.c.amount_minor % factor == 0)
        minor = deals.c.amount_minor // factor
    op.execute(deals.update().where(rows).values(amount_minor=minor, amount_digits=new))
