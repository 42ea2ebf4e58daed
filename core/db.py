"""Database helpers every app may use: ids aggregated into one column, read back as lists."""

import orjson
from django.db import connection, connections
from django.db.models import Aggregate, TextField
from django.db.models.query import get_related_populators


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


class Prepared:
    """A read of one model row whose SQL is compiled once per database and then only run.

    `build(**marks)` returns the queryset with each named value replaced by a mark; the
    first `first(**values)` on a database compiles it, finds each mark among the
    statement's parameters, and keeps the SQL, the converters and how to build the
    instance (what Django's `ModelIterable` derives on every evaluation). Later calls put
    the values where the marks were, execute and build the instance as the ORM would:
    the same SQL, the same objects, without the ORM's compilation, which for a query with
    several annotated subqueries (the bearer sign-in) costs more than the database does.

    When a mark is not found exactly once (the ORM transformed the value), the read is
    not prepared on that database and every call goes through the ORM, so a change of
    query can make it slower, never wrong. The compiled form holds no connection: the
    current one runs it (under ASGI each request has its own)."""

    def __init__(self, build):
        self._build = build
        self._compiled = {}  # database alias → _Compiled, or None: use the ORM

    def first(self, using="default", **values):
        try:
            compiled = self._compiled[using]
        except KeyError:
            compiled = self._compiled[using] = _Compiled.of(self._build, using, values)
        if compiled is None:
            return self._build(**values).using(using).first()
        return compiled.first(using, values)


class _Compiled:
    @classmethod
    def of(cls, build, using, values):
        marks = {name: f"\x00prepared:{name}\x00" for name in values}
        queryset = build(**marks).order_by()[:1]
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        params = list(params)
        slots = {}
        for name, mark in marks.items():
            found = [index for index, param in enumerate(params) if param == mark]
            if len(found) != 1:
                return None
            slots[name] = found[0]
        if queryset._known_related_objects or compiler.has_composite_fields(
                [column for column, *_ in compiler.select]):
            return None
        return cls(compiler, sql, params, slots, using)

    def __init__(self, compiler, sql, params, slots, using):
        self.sql, self.params, self.slots = sql, params, slots
        select, klass_info = compiler.select, compiler.klass_info
        self.model = klass_info["model"]
        fields = klass_info["select_fields"]
        self.model_slice = slice(fields[0], fields[-1] + 1)
        self.init_list = [column[0].target.attname for column in select[self.model_slice]]
        self.populators = get_related_populators(klass_info, select, using)
        self.annotations = list(compiler.annotation_col_map.items())
        self.converters = [(index, functions, expression) for index, (functions, expression)
                           in compiler.get_converters([column[0] for column in select[:compiler.col_count]]).items()]

    def first(self, using, values):
        params = list(self.params)
        for name, index in self.slots.items():
            params[index] = values[name]
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        if self.converters:
            row = list(row)
            for index, functions, expression in self.converters:
                value = row[index]
                for convert in functions:
                    value = convert(value, expression, connection)
                row[index] = value
        instance = self.model.from_db(using, self.init_list, row[self.model_slice])
        for populator in self.populators:
            populator.populate(row, instance)
        for name, index in self.annotations:
            setattr(instance, name, row[index])
        return instance
