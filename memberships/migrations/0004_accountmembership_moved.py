"""AccountMembership now lives in accounts (accounts 0005); its table stays."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("memberships", "0003_visibility_indexes"),
        ("accounts", "0005_accountmembership"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AccountMembership")],
            database_operations=[],
        ),
    ]
