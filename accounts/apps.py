from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts import rules  # noqa: F401 (registers the role rules)
        from accounts.api import schema  # noqa: F401  (the OpenAPI document's authentication schemes)
        from accounts.models import (
            Account,
            AccountMembership,
            AccountRole,
            ActivationCode,
            Avatar,
            Contact,
            Invitation,
            Role,
            Session,
            User,
        )
        from core.audit import register_audited

        # Passwords are masked whole; token hashes and image bytes are never logged;
        # last_login is activity (the Session entry records the sign-in), not a change.
        register_audited(User, exclude_fields=["last_login"], mask_fields=["password"], m2m_fields={"roles"})
        register_audited(Role, m2m_fields={"permissions"})
        register_audited(Contact)
        register_audited(Session, exclude_fields=["key_hash", "last_seen_at"])
        register_audited(Avatar, exclude_fields=["image"])
        register_audited(Account, m2m_fields={"account_roles"})
        register_audited(AccountRole)
        register_audited(AccountMembership)
        register_audited(Invitation)
        # The code itself is a secret: its refreshes are logged, its value never.
        register_audited(ActivationCode, mask_fields=["code"])
