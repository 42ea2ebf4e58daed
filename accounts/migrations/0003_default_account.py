from django.db import migrations

DEFAULT_ACCOUNT_NAME = "Default account"


def create_default_account(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    if not Account.objects.filter(is_default=True).exists():
        name = DEFAULT_ACCOUNT_NAME
        if Account.objects.filter(name__iexact=name).exists():
            name = f"{DEFAULT_ACCOUNT_NAME} (site)"
        Account.objects.create(name=name, is_default=True)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_accounts")]

    operations = [migrations.RunPython(create_default_account, migrations.RunPython.noop)]
