from django.db import migrations, models

import accounts.models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_user_directory_id")]

    operations = [
        # Everyone already here counts as verified, so the upgrade locks nobody out; new
        # users start unverified.
        migrations.AddField(model_name="user", name="email_verified", field=models.BooleanField(default=True)),
        migrations.AlterField(model_name="user", name="email_verified", field=models.BooleanField(default=False)),
        migrations.AddField(model_name="user", name="pending_email",
                            field=models.EmailField(blank=True, default="", editable=False, max_length=254)),
        migrations.AlterField(model_name="user", name="email",
                              field=models.EmailField(max_length=254, unique=True, verbose_name="email address",
                                                      validators=[accounts.models.validate_email_address])),
    ]
