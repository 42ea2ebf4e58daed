"""AccountMembership moves from memberships into accounts (its layer, DESIGN.md).

The table stays where it is (`memberships_accountmembership`): only Django's model state
moves. Its content type is relabelled, so its permissions become
`accounts.*_accountmembership` and every role, user, group and guardian grant that held
them holds the renamed ones; audit entries keep pointing at the same content type.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def relabel_content_type(apps, schema_editor, old, new):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if ContentType.objects.using(db).filter(app_label=new, model="accountmembership").exists():
        return  # already relabelled (or created fresh by a later post_migrate)
    ContentType.objects.using(db).filter(app_label=old, model="accountmembership").update(app_label=new)


def forwards(apps, schema_editor):
    relabel_content_type(apps, schema_editor, "memberships", "accounts")


def backwards(apps, schema_editor):
    relabel_content_type(apps, schema_editor, "accounts", "memberships")


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0004_auditlog_account_page_idx"),
        ("memberships", "0003_visibility_indexes"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AccountMembership",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("role", models.CharField(choices=[("user", "User"), ("consultant", "Consultant"),
                                                           ("admin", "Admin")], default="user", max_length=16)),
                        ("created", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ("account", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                      related_name="account_memberships", to="accounts.account")),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                   related_name="account_memberships",
                                                   to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "ordering": ["id"],
                        "db_table": "memberships_accountmembership",
                        "indexes": [models.Index(fields=["account", "role"], name="accountmembership_role_idx")],
                        "constraints": [models.UniqueConstraint(
                            fields=("user", "account"), name="accountmembership_unique_pair",
                            violation_error_message="This user is already a member of this account.")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
