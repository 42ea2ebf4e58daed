import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

from accounts.models import AuditLogEntry, User
from tests.factories import PASSWORD, UserFactory
from tests.jsonapi import body

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
class TestAudit:
    def test_api_writes_name_the_bearer_actor_and_address(self, api, site_admin):
        api.as_user(site_admin)
        response = api.post("/api/v1/users/", body("User", {"email": "aud@example.org", "password": PASSWORD}),
                            REMOTE_ADDR="192.0.2.7")
        entry = AuditLogEntry.objects.get(content_type__model="user", object_id=response.document["data"]["id"],
                                          action=AuditLogEntry.Action.CREATE)
        assert entry.actor == site_admin
        assert entry.remote_addr == "192.0.2.7"
        assert entry.changes["email"] == [None, "aud@example.org"]

    def test_password_hashes_never_reach_the_log(self, api, user):
        api.as_user(user).patch(f"/api/v1/users/{user.pk}/", body("User", {
            "password": "another long passphrase", "currentPassword": PASSWORD}, id=user.pk))
        user.refresh_from_db()
        for entry in AuditLogEntry.objects.all():
            text = str(entry.changes)
            assert user.password not in text and "argon2" not in text and "md5$" not in text
        change = AuditLogEntry.objects.filter(content_type__model="user", object_id=user.pk,
                                              action=AuditLogEntry.Action.UPDATE).latest("timestamp")
        assert change.changes["password"] == ["********", "********"]
        assert change.actor == user

    def test_entries_survive_the_deletion_of_what_they_describe(self, api, site_admin):
        victim = UserFactory()
        api.as_user(site_admin).delete(f"/api/v1/users/{victim.pk}/")
        entries = AuditLogEntry.objects.filter(content_type__model="user", object_id=victim.pk)
        assert {e.action for e in entries} >= {AuditLogEntry.Action.CREATE, AuditLogEntry.Action.DELETE}

    def test_failed_writes_leave_no_entry(self, api, site_admin):
        api.as_user(site_admin)
        before = AuditLogEntry.objects.count()
        api.post("/api/v1/users/", body("User", {"email": "bad", "password": "x"}))
        assert AuditLogEntry.objects.count() == before

    def test_forwarded_for_is_not_trusted_by_default(self, api, world):
        api.as_user(world["account_admin"]).patch(f"/api/v1/accounts/{world.account.pk}/", body(
            "Account", {"dataRetention": 9}, id=world.account.pk), HTTP_X_FORWARDED_FOR="not-an-ip",
            REMOTE_ADDR="192.0.2.44")
        entry = AuditLogEntry.objects.filter(content_type__model="account").latest("timestamp")
        assert entry.remote_addr == "192.0.2.44"


class TestSettings:
    def test_argon2_hashes_passwords(self):
        from config.settings import base

        assert base.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")

    def test_custom_user_model(self):
        assert settings.AUTH_USER_MODEL == "accounts.User"
        assert User.USERNAME_FIELD == "email"

    def _manage(self, *args, **env):
        environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        environment.update(env)
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment,
                              capture_output=True, text=True, timeout=120)

    def test_check_deploy_passes_in_production_mode(self):
        result = self._manage("check", "--deploy", "--fail-level", "WARNING",
                              DJANGO_DEBUG="false", DJANGO_SECRET_KEY="x" * 20 + "-prod-secret-" + "y" * 30,
                              DJANGO_ASSET_KEYS=Fernet.generate_key().decode(),
                              DJANGO_ALLOWED_HOSTS="roster.example.org")
        assert result.returncode == 0, result.stdout + result.stderr

    def _database_settings(self, **env):
        """DATABASES["default"] as the production settings build it from `env` (nothing connects)."""
        import json

        environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        environment.update({"DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ASSET_KEYS": Fernet.generate_key().decode(),
                            "DJANGO_SETTINGS_MODULE": "config.settings.production", **env})
        code = "import json, django; django.setup(); from django.conf import settings; " \
               "print(json.dumps(settings.DATABASES['default'], default=str))"
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    def test_postgresql_connections_come_from_a_pool_that_gives_up_quickly(self):
        database = self._database_settings(DATABASE_URL="postgres://roster@db.invalid/roster")
        assert database["CONN_MAX_AGE"] == 0 and database["CONN_HEALTH_CHECKS"] is True
        pool = database["OPTIONS"]["pool"]
        # A request waits at most 0.5 s for a connection (then 503; a worker's queued requests
        # each wait in turn), and a reconnection attempt lasts as long, so a server is back
        # within a second of its database (scripts/reliability.py).
        assert pool == {"min_size": 2, "max_size": 16, "timeout": 0.5, "reconnect_timeout": 0.5}
        assert database["OPTIONS"]["connect_timeout"] == 3
        off = self._database_settings(DATABASE_URL="postgres://roster@db.invalid/roster", DJANGO_DB_POOL="false")
        assert "pool" not in off["OPTIONS"]
        persistent = self._database_settings(DATABASE_URL="postgres://roster@db.invalid/roster",
                                             DJANGO_CONN_MAX_AGE="60")
        assert "pool" not in persistent["OPTIONS"] and persistent["CONN_MAX_AGE"] == 60
        assert "pool" not in self._database_settings(DATABASE_URL="sqlite:///x.sqlite3")["OPTIONS"]

    def test_production_refuses_to_start_without_a_secret(self):
        result = self._manage("check", DJANGO_DEBUG="false", DJANGO_ALLOWED_HOSTS="roster.example.org")
        assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_masking_knows_which_code_is_a_secret():
    """An activation code's `code` is masked on every face; a product type's `code` is its name."""
    from accounts.models import ActivationCode, User
    from billing.models import ProductType
    from core.audit import MASK, mask_change

    assert mask_change("code", ["OLDCODE1", "NEWCODE2"], ActivationCode) == [MASK, MASK]
    assert mask_change("code", [None, "STORAGE"], ProductType) == [None, "STORAGE"]
    assert mask_change("password", ["x", "y"], User) == [MASK, MASK]
    assert mask_change("token", [None, "t"]) == [None, MASK]
