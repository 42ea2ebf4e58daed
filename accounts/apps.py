from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from auditlog.registry import auditlog

        from accounts.models import Avatar, Contact, Role, Session, User

        # Passwords are masked whole; token hashes and image bytes are never logged;
        # last_login is activity (the Session entry records the sign-in), not a change.
        auditlog.register(User, exclude_fields=["last_login"], mask_fields=["password"], m2m_fields={"roles"})
        auditlog.register(Role, m2m_fields={"permissions"})
        auditlog.register(Contact)
        auditlog.register(Session, exclude_fields=["key_hash", "last_seen_at"])
        auditlog.register(Avatar, exclude_fields=["image"])
