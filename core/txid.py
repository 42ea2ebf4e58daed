"""Commit order for append-only tables read by cursor (the event streams' audit entries).

A cursor over a monotonic id alone skips rows on PostgreSQL: ids are taken when a row is
inserted, not when its transaction commits, so a reader can see id 11 (committed) while
id 10 (taken earlier by a transaction still open) is not visible yet; a cursor at 11 then
never returns 10.

The exact order used instead, and why it is exact:

- Each row records the id of the transaction that wrote it (`TransactionIdField`: PostgreSQL
  fills it with `pg_current_xact_id()`, the top-level transaction's 64-bit `xid8`, also for
  rows written inside a savepoint). Rows are read in `(txid, id)` order.
- A reader returns only rows with `txid < pg_snapshot_xmin(pg_current_snapshot())`, the
  *horizon*: every transaction with a smaller xid has ended (committed or rolled back) when
  the reading statement's snapshot is taken, and that same snapshot decides which rows the
  statement sees, so the set of rows below the horizon is final: nothing can join it later.
- Any row that becomes visible later belongs to a transaction that was still running then
  (xid ≥ xmin) or started afterwards (xid ≥ the snapshot's xmax ≥ xmin): its txid is at or
  above the horizon of every earlier read, hence above every cursor handed out (a cursor is
  a returned row's `(txid, id)`, below the horizon of the read that returned it).
- Horizons never move back: an xid below one reader's horizon had ended by then, so it
  cannot be running at any later snapshot.

So a client that follows the cursor gets every row exactly once, in one order, whatever
the writers do. The price: a row waits until every transaction older than its own has
ended (a long-running writing transaction anywhere in the cluster delays events, not
loses them); read-only transactions hold no xid and delay nothing.

SQLite needs none of it: writers are serialised (IMMEDIATE transactions, one writer at a
time, config/settings/base.py) and ids come from AUTOINCREMENT while the write lock is held,
so id order is commit order. The column is NULL there and rows are read in id order.
"""

from django.db import connection, models


class CurrentTransactionId(models.Func):
    """`pg_current_xact_id()` on PostgreSQL; NULL elsewhere (see the module's docstring)."""

    template = "pg_current_xact_id()"
    arity = 0
    output_field = models.BigIntegerField()

    def as_sql(self, compiler, connection, **extra_context):
        if connection.vendor == "postgresql":
            return "pg_current_xact_id()", []
        return "NULL", []


class TransactionIdField(models.BigIntegerField):
    """The writing transaction's id, set by the database on insert (`xid8` on PostgreSQL)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("db_default", CurrentTransactionId())
        super().__init__(*args, **kwargs)

    def db_type(self, connection):
        return "xid8" if connection.vendor == "postgresql" else super().db_type(connection)

    def rel_db_type(self, connection):
        return self.db_type(connection)

    def from_db_value(self, value, expression, connection):
        return None if value is None else int(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None or connection.vendor != "postgresql":
            return super().get_db_prep_value(value, connection, prepared)
        return str(int(value))  # xid8 has no cast from bigint; its text input is the decimal


def orders_by_commit() -> bool:
    """Does this database need the transaction-id horizon (PostgreSQL), or is id order commit
    order (SQLite)?"""
    return connection.vendor == "postgresql"


#: The horizon below which every transaction has ended (see the module's docstring).
HORIZON_SQL = "pg_snapshot_xmin(pg_current_snapshot())"
