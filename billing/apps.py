from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from billing import rules  # noqa: F401 (registers the role rules)
        from billing.events import rules as event_rules  # noqa: F401
        from billing.events.models import EventStream
        from billing.models import Charge, Merchant, Product, ProductType
        from core.audit import register_audited

        # Products and charges are audited under their utility's account (`audit_account_id`),
        # so the account's audit log shows them, also after they are deleted.
        register_audited(ProductType)
        register_audited(Product)
        register_audited(Charge)
        register_audited(Merchant)
        # The read token's hash is never logged (an event stream is its owner's, no account's).
        register_audited(EventStream, exclude_fields=["read_token_hash"])
