"""Database helpers every app may use: ids aggregated into one column, read back as lists."""

import orjson
from django.db import connection
from django.db.models import Aggregate, TextField


class JSONGroupArray(Aggregate):
    """A group's values as one array: JSON text on SQLite, an array (a list, through the
    driver) on PostgreSQL, where an array also compares equal under DISTINCT, which `json`
    does not. Read it back with `read_json_array`."""

    function = "JSON_GROUP_ARRAY"
    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="ARRAY_AGG", **extra_context)


def aggregates_ids(connection) -> bool:
    return connection.vendor in ("sqlite", "postgresql")


def read_json_array(value) -> list:
    if not value:
        return []
    return value if isinstance(value, list) else orjson.loads(value)



def lock_clause(*, update=(), key_share=()) -> str:
    """` FOR KEY SHARE OF … FOR UPDATE OF …` for a raw SELECT on PostgreSQL; nothing
    elsewhere (SQLite serialises writers)."""
    if connection.vendor != "postgresql":
        return ""
    # PostgreSQL locks the rows in the order of these clauses: the held ancestors (in the
    # order given: the outermost first), then the row to change, as the deleters do.
    parts = [f"FOR KEY SHARE OF {', '.join(key_share)}"] if key_share else []
    parts += [f"FOR UPDATE OF {', '.join(update)}"] if update else []
    return " " + " ".join(parts)


def hold(sql: str, params, *aliases) -> tuple | None:
    """Run `sql` (a SELECT of the rows a new child row will point at: its parent, and that
    parent's parents) so that, until this transaction ends, none of the rows of `aliases`
    (the tables' aliases in `sql`) can be deleted; its first row, or None when they are gone.

    An insert's foreign-key check would hold its parent so, but Django makes keys deferred,
    checked at COMMIT: a parent (or grandparent) deleted meanwhile makes that commit fail
    (an IntegrityError: a 500), or the two writers lock in opposite orders (a deadlock).
    So writers of children hold their ancestors first (`FOR KEY SHARE`: writers of siblings
    do not wait for each other), and deleters lock the row they delete first
    (`select_for_update`): one waits for the other, and the deleter deletes what the writer
    wrote, or the writer finds its parent gone (a 404)."""
    with connection.cursor() as cursor:
        cursor.execute(sql + lock_clause(key_share=aliases), params)
        return cursor.fetchone()
