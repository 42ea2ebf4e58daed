"""Security-relevant events are visible to site admins (issue 17): failed sign-ins and
lockouts (django-axes' records, in the admin), role changes and token revocations (the
audit log, with their actor); staff without the permissions see none of it."""

import pytest
from django.test import Client

from accounts.models import AuditLogEntry, Session
from tests.factories import PASSWORD, SiteAdminFactory, UserFactory
from tests.jsonapi import body

pytestmark = pytest.mark.django_db


def sign_in(api, email, password, remote_addr="192.0.2.44"):
    return api.post("/api/v1/sessions/", body("Session", {"email": email, "password": password}),
                    REMOTE_ADDR=remote_addr)


def admin_page(user, url):
    client = Client()
    client.force_login(user, backend="accounts.backends.RosterBackend")
    return client.get(url)


def test_failed_sign_ins_and_lockouts_are_listed_for_site_admins(api):
    victim = UserFactory(email="victim@example.org", username="victim")
    for _ in range(5):
        assert sign_in(api, victim.email, "wrong").status_code == 401
    assert sign_in(api, victim.email, PASSWORD).status_code == 429

    site_admin = SiteAdminFactory()
    failures = admin_page(site_admin, "/admin/axes/accessfailurelog/")
    assert failures.status_code == 200
    assert "victim" in failures.content.decode() and "192.0.2.44" in failures.content.decode()
    lockouts = admin_page(site_admin, "/admin/axes/accessattempt/")
    assert lockouts.status_code == 200
    assert "victim" in lockouts.content.decode()

    staff = UserFactory(is_staff=True)
    assert admin_page(staff, "/admin/axes/accessfailurelog/").status_code == 403
    assert admin_page(staff, "/admin/axes/accessattempt/").status_code == 403


def test_token_revocations_and_role_changes_are_in_the_audit_log_with_their_actor(api, world):
    admin = world["account_admin"]
    member = world["account_user"]
    assert sign_in(api, member.email, PASSWORD, remote_addr="192.0.2.45").status_code == 201
    session = Session.objects.filter(user=member).latest("pk")
    api.as_user(member)  # another of their sessions revokes this one
    assert api.delete(f"/api/v1/sessions/{session.pk}/").status_code == 204
    revoked = AuditLogEntry.objects.get_for_object(session).get(action=AuditLogEntry.Action.DELETE)
    assert revoked.actor_id == member.pk
    site_admin = SiteAdminFactory()

    membership = world.account_membership_of("account_user")
    api.as_user(admin)
    response = api.patch(f"/api/v1/account-memberships/{membership.pk}/",
                         body("AccountMembership", {"role": "consultant"}, id=membership.pk))
    assert response.status_code == 200
    changed = AuditLogEntry.objects.get_for_object(membership).get(action=AuditLogEntry.Action.UPDATE)
    assert changed.actor_id == admin.pk and "role" in changed.changes_dict

    page = admin_page(site_admin, "/admin/accounts/auditlogentry/")
    assert page.status_code == 200
