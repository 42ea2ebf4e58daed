from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import pre_delete

        from accounts.models import Account, User
        from billing import rules  # noqa: F401 (registers the role rules)
        from billing.events import rules as event_rules  # noqa: F401
        from billing.events.models import EventStream
        from billing.models import Asset, Charge, Merchant, Product, ProductType
        from billing.services import delete_scope_assets
        from core.audit import register_audited
        from memberships.models import Utility

        # Products and charges are audited under their utility's account (`audit_account_id`),
        # so the account's audit log shows them, also after they are deleted.
        register_audited(ProductType)
        register_audited(Product)
        register_audited(Charge)
        register_audited(Merchant)
        # A secret's ciphertext is masked whole; a plain asset's content is shown like any field.
        register_audited(Asset, mask_fields=["encrypted_content"], m2m_fields={"merchants"})
        # Assets name their scope without a foreign key: they go when it goes.
        for model in (Account, Utility, Product, User):
            pre_delete.connect(delete_scope_assets, sender=model, dispatch_uid=f"delete_assets_of_{model.__name__}")
        # The read token's hash is never logged (an event stream is its owner's, no account's).
        register_audited(EventStream, exclude_fields=["read_token_hash"])
