"""The shared cache's table (settings: DatabaseCache `roster_cache`), so `migrate` alone
readies a fresh database: throttles then count per user across every worker and server."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):

    dependencies = [("accounts", "0005_accountmembership")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
