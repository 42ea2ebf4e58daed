"""Database helpers every app may use: ids aggregated into one column, read back as lists."""

import orjson
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
