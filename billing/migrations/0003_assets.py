"""Assets (SPEC §3, issue 14), and the permission `billing.view_secret_asset` moved from
ProductType (where it waited for them) to Asset.

The permission row is moved, not recreated: roles, users and groups hold it by its id, so
everyone who held it holds it still."""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


CODENAME = "view_secret_asset"
NAME = "Can read the content of secret assets"


def _move_permission(apps, source_model, target_model):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    source = ContentType.objects.filter(app_label="billing", model=source_model).first()
    if source is None:
        return
    old = Permission.objects.filter(content_type=source, codename=CODENAME).first()
    if old is None:
        return
    target, _ = ContentType.objects.get_or_create(app_label="billing", model=target_model)
    existing = Permission.objects.filter(content_type=target, codename=CODENAME).first()
    if existing is None:
        old.content_type = target
        old.save(update_fields=["content_type"])
        return
    # Both exist (created by hand or by an earlier partial run): give the holders of the old
    # row the kept one, then drop the old row.
    for relation in (Permission.user_set, Permission.group_set):
        through = relation.through
        column = next(f.name for f in through._meta.fields if f.name not in ("id", "permission"))
        holders = set(through.objects.filter(permission=existing).values_list(f"{column}_id", flat=True))
        through.objects.bulk_create([through(permission=existing, **{f"{column}_id": holder})
                                     for holder in through.objects.filter(permission=old).values_list(
                                         f"{column}_id", flat=True) if holder not in holders])
    Role = apps.get_model("accounts", "Role")
    for role in Role.objects.filter(permissions=old):
        role.permissions.add(existing)
    old.delete()


def to_asset(apps, schema_editor):
    _move_permission(apps, "producttype", "asset")


def to_product_type(apps, schema_editor):
    _move_permission(apps, "asset", "producttype")


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0002_seed_product_types'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('accounts', '0010_single_line_names'),
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='producttype',
            options={'ordering': ['code']},
        ),
        migrations.CreateModel(
            name='Asset',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=63, validators=[django.core.validators.RegexValidator('^[a-z0-9-]{1,63}\\Z', 'Lower-case letters, digits and hyphens, 1 to 63 of them.')])),
                ('description', models.CharField(blank=True, max_length=1000)),
                ('scope', models.CharField(choices=[('global', 'Global'), ('user', 'User'), ('product', 'Product'), ('utility', 'Utility'), ('account', 'Account')], max_length=16)),
                ('scope_id', models.BigIntegerField(blank=True, help_text='the user, account, utility or product; empty for global assets', null=True)),
                ('content', models.TextField(blank=True, help_text='a plain value (empty for secrets)')),
                ('encrypted_content', models.TextField(blank=True, editable=False, help_text="a secret's Fernet token")),
                ('is_secret', models.BooleanField(default=False)),
                ('enabled', models.BooleanField(default=True)),
                ('created', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('updated', models.DateTimeField(auto_now=True)),
                ('creator', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='created_assets', to=settings.AUTH_USER_MODEL)),
                ('merchants', models.ManyToManyField(blank=True, related_name='assets', to='billing.merchant')),
            ],
            options={
                'ordering': ['name', 'id'],
                'permissions': [('view_secret_asset', 'Can read the content of secret assets')],
                'constraints': [models.UniqueConstraint(fields=('scope', 'scope_id', 'name'), name='asset_name_unique_in_scope', violation_error_message='This scope has an asset of that name.'), models.UniqueConstraint(condition=models.Q(('scope', 'global')), fields=('name',), name='asset_global_name_unique', violation_error_message='A global asset of that name exists.'), models.CheckConstraint(condition=models.Q(('scope__in', ['global', 'user', 'product', 'utility', 'account'])), name='asset_scope_known'), models.CheckConstraint(condition=models.Q(models.Q(('scope', 'global'), ('scope_id__isnull', True)), models.Q(models.Q(('scope', 'global'), _negated=True), ('scope_id__isnull', False)), _connector='OR'), name='asset_scope_id_matches_scope', violation_error_message='Global assets have no scope id; every other scope needs one.'), models.CheckConstraint(condition=models.Q(models.Q(('content', ''), ('is_secret', True)), models.Q(('encrypted_content', ''), ('is_secret', False)), _connector='OR'), name='asset_content_in_one_column')],
            },
        ),
        migrations.RunPython(to_asset, to_product_type),
    ]
