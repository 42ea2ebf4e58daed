"""Widen the audit log's account index so deep pages and filtered counts never read the table.

Every write in Roster appends to this table, so on PostgreSQL the index is built and the
old one dropped CONCURRENTLY (no lock that blocks writers); other databases build it
the ordinary way. The new index is in place before the old one goes.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexConcurrentlyOnPostgres(RemoveIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0003_default_account"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="auditlogentry",
            index=models.Index(fields=["account_id", "-timestamp", "-id", "action", "content_type", "actor"],
                               name="auditlog_account_page_idx"),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="auditlogentry", name="auditlog_account_time_idx"),
    ]
