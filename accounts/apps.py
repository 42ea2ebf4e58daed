from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in, user_logged_out


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from accounts import rules  # noqa: F401 (registers the role rules)
        from core.middleware import BrowserIdleTimeoutMiddleware

        # a browser's idle and absolute limits count from its sign-in
        user_logged_in.connect(BrowserIdleTimeoutMiddleware.signed_in, dispatch_uid="roster_browser_clock")
        from accounts.api import schema  # noqa: F401  (the OpenAPI document's authentication schemes)
        from accounts.models import (
            Account,
            AccountMembership,
            AccountRole,
            ActivationCode,
            Avatar,
            BrowserSession,
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
        # The cookie session's key is as good as a password: never logged.
        register_audited(BrowserSession, exclude_fields=["session_key"])
        register_audited(Avatar, exclude_fields=["image"])
        register_audited(Account, m2m_fields={"account_roles"})
        register_audited(AccountRole)
        register_audited(AccountMembership)
        register_audited(Invitation)
        # The code itself is a secret: its refreshes are logged, its value never.
        register_audited(ActivationCode, mask_fields=["code"])


def _browser_signed_in(sender, request, user, **kwargs):
    from accounts.services import browser_session_start

    if request is not None:
        browser_session_start(request=request, user=user)


def _browser_signed_out(sender, request, user, **kwargs):
    from accounts.services import browser_session_forget

    session = getattr(request, "session", None) if request is not None else None
    browser_session_forget(session_key=getattr(session, "session_key", None))


user_logged_in.connect(_browser_signed_in, dispatch_uid="accounts_browser_signed_in")
user_logged_out.connect(_browser_signed_out, dispatch_uid="accounts_browser_signed_out")
