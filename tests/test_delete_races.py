"""Deleting a row while others write under it, or delete it too (PostgreSQL, real threads).

Found by the soak's race probe (scripts/reliability.py): Django's foreign keys are checked at
COMMIT, so a utility created while its account was being deleted made the delete's commit
fail (an IntegrityError, a 500); charges posted while their utility was being deleted locked
the utility and the product in the opposite order to the delete (a deadlock, a 503); two
removals of one membership both answered 204 and both wrote a delete entry. Writers under a
row now hold its ancestors first (core.db.hold) and deleters lock what they delete first:
whichever comes second waits, then finds the parent gone (404) or deletes what the first
wrote too.
"""

import threading
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connections

from accounts.models import Account, AuditLogEntry
from accounts.services import account_delete
from billing import services as billing
from billing.models import Charge, Product
from core.errors import NotFound, ServiceError
from memberships import services as memberships
from memberships.models import Membership, Utility
from tests.billing.factories import ProductFactory
from tests.factories import AccountFactory, MembershipFactory, SiteAdminFactory, UtilityFactory

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ROUNDS = 4  # a race is won differently each time: a few rounds to meet both orders


def race(*calls):
    """Run the calls at once, one thread each; what each returned or raised."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            outcomes[index] = call()
        except Exception as exc:  # noqa: BLE001 (the test looks at what was raised)
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_an_account_deleted_while_utilities_are_created_in_it():
    admin = SiteAdminFactory()
    for round_ in range(ROUNDS):
        account = AccountFactory(name=f"Going {round_}")
        outcomes = race(lambda account=account: account_delete(actor=admin, account=account),
                        *(lambda n=n, account=account: memberships.utility_create(
                            actor=admin, account=account, name=f"U{n}", billing_day=1) for n in range(6)))
        unexpected = [o for o in outcomes if o is not None and not isinstance(o, (Utility, NotFound))]
        assert not unexpected, unexpected  # no IntegrityError at the delete's commit
        assert not Account.objects.filter(pk=account.pk).exists()
        assert not Utility.objects.filter(account_id=account.pk).exists()


def test_a_utility_deleted_while_charges_are_posted_to_it():
    admin = SiteAdminFactory()
    for round_ in range(ROUNDS):
        utility = UtilityFactory(account=AccountFactory(name=f"Charged {round_}"), billing_day=1)
        product = ProductFactory(utility=utility, allowance=0, limit=0)
        outcomes = race(lambda utility=utility: memberships.utility_delete(actor=admin, utility=utility),
                        *(lambda product=product: billing.charge_create(
                            actor=admin, product=Product(pk=product.pk), kind="processing",
                            amount=Decimal("1")) for _ in range(6)))
        unexpected = [o for o in outcomes if o is not None and not isinstance(o, (Charge, ServiceError))]
        assert not unexpected, unexpected  # no deadlock (OperationalError), no IntegrityError
        assert not Utility.objects.filter(pk=utility.pk).exists()
        assert not Charge.objects.filter(product_id=product.pk).exists()


def test_one_membership_removed_twice_at_once_is_removed_and_audited_once():
    admin = SiteAdminFactory()
    for _round in range(ROUNDS):
        membership = MembershipFactory()
        pk = membership.pk
        copies = [Membership.objects.select_related("utility").get(pk=pk) for _ in range(4)]  # each request's read
        outcomes = race(*(lambda copy=copy: memberships.membership_delete(actor=admin, membership=copy)
                          for copy in copies))
        assert sum(o is None for o in outcomes) == 1, outcomes
        assert all(isinstance(o, NotFound) for o in outcomes if o is not None), outcomes
        assert AuditLogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Membership),
                                            object_id=pk, action=AuditLogEntry.Action.DELETE).count() == 1
