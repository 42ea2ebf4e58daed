"""Audit entries record their writing transaction (core.txid) and, on PostgreSQL, announce
themselves at commit on the `roster_audit` channel, so every app server's event-stream
listener wakes (billing.events.hub)."""

from django.db import migrations, models

import core.txid

NOTIFY_CHANNEL = "roster_audit"

CREATE_TRIGGER = f"""
CREATE OR REPLACE FUNCTION roster_audit_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One notification per statement; PostgreSQL delivers it when the transaction commits
    -- (never for a rollback) and folds identical ones of one transaction into one.
    PERFORM pg_notify('{NOTIFY_CHANNEL}', '');
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_auditlogentry_notify AFTER INSERT ON accounts_auditlogentry
    FOR EACH STATEMENT EXECUTE FUNCTION roster_audit_notify();
"""
DROP_TRIGGER = """
DROP TRIGGER IF EXISTS accounts_auditlogentry_notify ON accounts_auditlogentry;
DROP FUNCTION IF EXISTS roster_audit_notify();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_TRIGGER)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0011_browser_session'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditlogentry',
            name='txid',
            field=core.txid.TransactionIdField(blank=True, db_default=core.txid.CurrentTransactionId(),
                                               editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name='auditlogentry',
            index=models.Index(fields=['txid', 'id'], name='auditlog_commit_order_idx'),
        ),
        migrations.RunPython(create_trigger, drop_trigger),
    ]
