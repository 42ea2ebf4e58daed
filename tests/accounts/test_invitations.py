"""Invitations (SPEC §3): invite an address, the invitee signs up, verifies and accepts;
decline, revoke, expiry, duplicates, unverified addresses, audit entries."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import AccountMembership, AuditLogEntry, Invitation, User
from memberships.models import Membership
from tests.factories import PASSWORD, UserFactory
from tests.jsonapi import body, rel

pytestmark = pytest.mark.django_db

URL = "/api/v1/invitations/"


def invite(api, email, target_type="Account", target=None, role=None):
    attributes = {"email": email, **({"role": role} if role else {})}
    relationship = "account" if target_type == "Account" else "utility"
    return api.post(URL, body("Invitation", attributes, {relationship: rel(target_type, target.pk)}))


def test_invite_unregistered_sign_up_verify_accept(api, client, world):
    admin = world["account_admin"]
    created = invite(api.as_user(admin), "New.Person@Example.org", target=world.account, role="consultant")
    assert created.status_code == 201, created.document
    attributes = created.document["data"]["attributes"]
    assert attributes["email"] == "new.person@example.org" and attributes["status"] == "pending"
    assert mail.outbox[-1].to == ["new.person@example.org"]
    pk = created.document["data"]["id"]

    client.post("/signup/", {"email": "new.person@example.org", "password1": PASSWORD, "password2": PASSWORD,
                             "first_name": "", "last_name": ""})
    newcomer = User.objects.get(email="new.person@example.org")
    api.as_user(newcomer)
    # not yet verified: the invitation is not theirs to see
    assert api.post(f"{URL}{pk}/accept/").status_code == 404
    client.force_login(newcomer, backend="accounts.backends.RosterBackend")
    assert client.post(re.search(r"/verify-email/[^/\s]+/", mail.outbox[-1].body).group(0)).status_code == 200
    newcomer.refresh_from_db()
    accepted = api.as_user(newcomer).post(f"{URL}{pk}/accept/")
    assert accepted.status_code == 201, accepted.document
    assert accepted.document["data"]["type"] == "AccountMembership"
    assert AccountMembership.objects.get(user=newcomer, account=world.account).role == "consultant"
    assert Invitation.objects.get(pk=pk).status == "accepted"
    assert api.post(f"{URL}{pk}/accept/").document["errors"][0]["code"] == "conflict"


def test_post_answers_alike_for_registered_addresses(api, world):
    UserFactory(email="known@example.org")
    api.as_user(world["account_admin"])
    known = invite(api, "known@example.org", target=world.account)
    unknown = invite(api, "unknown@example.org", target=world.account)
    assert known.status_code == unknown.status_code == 201
    assert set(known.document["data"]["attributes"]) == set(unknown.document["data"]["attributes"])


def test_utility_invitation_accepted_makes_a_membership(api, world):
    invitee = UserFactory()
    created = invite(api.as_user(world["account_admin"]), invitee.email, "Utility", world.utility, role="member")
    assert created.status_code == 201, created.document
    accepted = api.as_user(invitee).post(f"{URL}{created.document['data']['id']}/accept/")
    assert accepted.status_code == 201 and accepted.document["data"]["type"] == "Membership"
    assert Membership.objects.get(user=invitee, utility=world.utility).role == "member"


def test_decline_and_revoke(api, world):
    invitee = UserFactory()
    admin = world["account_admin"]
    first = invite(api.as_user(admin), invitee.email, target=world.account).document["data"]["id"]
    declined = api.as_user(invitee).post(f"{URL}{first}/decline/")
    assert declined.status_code == 200 and declined.document["data"]["attributes"]["status"] == "declined"
    assert api.post(f"{URL}{first}/accept/").status_code == 409

    second = invite(api.as_user(admin), invitee.email, target=world.account).document["data"]["id"]
    assert api.as_user(invitee).delete(f"{URL}{second}/").status_code == 403
    assert api.as_user(admin).delete(f"{URL}{second}/").status_code == 204
    assert Invitation.objects.get(pk=second).status == "revoked"
    assert api.as_user(invitee).post(f"{URL}{second}/accept/").status_code == 409
    assert not AccountMembership.objects.filter(user=invitee, account=world.account).exists()


def test_expired_invitations_cannot_be_answered(api, world):
    invitee = UserFactory()
    pk = invite(api.as_user(world["account_admin"]), invitee.email, target=world.account).document["data"]["id"]
    Invitation.objects.filter(pk=pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api.as_user(invitee).post(f"{URL}{pk}/accept/")
    assert response.status_code == 409 and response.document["errors"][0]["code"] == "conflict"
    assert api.get(f"{URL}{pk}/").document["data"]["attributes"]["status"] == "expired"


def test_duplicates(api, world):
    api.as_user(world["account_admin"])
    assert invite(api, "dup@example.org", target=world.account).status_code == 201
    again = invite(api, "DUP@example.org", target=world.account)
    assert again.status_code == 409 and again.document["errors"][0]["code"] == "duplicate"
    member = invite(api, world["account_user"].email, target=world.account)
    assert member.status_code == 409 and member.document["errors"][0]["code"] == "duplicate"


def test_an_unverified_address_cannot_accept(api, world):
    invitee = UserFactory(email_verified=False)
    pk = invite(api.as_user(world["account_admin"]), invitee.email, target=world.account).document["data"]["id"]
    assert api.as_user(invitee).post(f"{URL}{pk}/accept/").status_code == 404
    assert api.as_user(invitee).get(URL).document["data"] == []


def test_who_sees_and_creates(api, world):
    pk = invite(api.as_user(world["account_admin"]), "x@example.org", target=world.account).document["data"]["id"]
    assert api.as_user(world["site_admin"]).get(f"{URL}{pk}/").status_code == 200
    assert api.as_user(world["outsider"]).get(f"{URL}{pk}/").status_code == 404
    assert api.as_user(world["account_user"]).get(f"{URL}{pk}/").status_code == 404
    assert invite(api.as_user(world["account_user"]), "y@example.org", target=world.account).status_code == 403
    assert invite(api.as_user(world["outsider"]), "y@example.org", target=world.account).status_code == 404
    assert invite(api.as_user(world["utility_admin"]), "y@example.org", "Utility", world.utility).status_code == 201
    assert invite(api.as_user(world["leader"]), "z@example.org", "Utility", world.utility).status_code == 403


def test_every_change_is_in_the_accounts_audit_log(api, world):
    invitee = UserFactory()
    pk = invite(api.as_user(world["account_admin"]), invitee.email, target=world.account).document["data"]["id"]
    api.as_user(invitee).post(f"{URL}{pk}/decline/")
    entries = AuditLogEntry.objects.filter(account_id=world.account.pk, object_pk=str(pk),
                                           content_type__model="invitation")
    assert sorted(entries.values_list("action", flat=True)) == [AuditLogEntry.Action.CREATE,
                                                                AuditLogEntry.Action.UPDATE]


def test_portal_dashboard_accept_decline_and_account_page_revoke(api, client, world):
    invitee = UserFactory()
    admin = world["account_admin"]
    first = invite(api.as_user(admin), invitee.email, target=world.account).document["data"]["id"]
    second = invite(api, invitee.email, "Utility", world.utility).document["data"]["id"]
    client.force_login(invitee, backend="accounts.backends.RosterBackend")
    page = client.get("/").content.decode()
    assert f"/invitations/{first}/accept/" in page and f"/invitations/{second}/decline/" in page
    assert client.post(f"/invitations/{first}/accept/").status_code == 302
    assert AccountMembership.objects.filter(user=invitee, account=world.account).exists()
    assert client.post(f"/invitations/{second}/decline/").status_code == 302
    assert Invitation.objects.get(pk=second).status == "declined"

    third = invite(api, "someone@example.org", target=world.account).document["data"]["id"]
    client.force_login(admin, backend="accounts.backends.RosterBackend")
    page = client.get(f"/accounts/{world.account.pk}/").content.decode()
    assert "someone@example.org" in page
    assert client.post(f"/accounts/{world.account.pk}/invitations/{third}/revoke/").status_code == 302
    assert Invitation.objects.get(pk=third).status == "revoked"
    client.force_login(world["outsider"], backend="accounts.backends.RosterBackend")
    assert client.post(f"/invitations/{first}/decline/").status_code == 404


def test_the_mail_links_to_where_the_invitee_answers(api, world):
    invite(api.as_user(world["account_admin"]), "someone@example.org", target=world.account)
    assert re.search(r"https?://\S+/#invitations", mail.outbox[-1].body), mail.outbox[-1].body


def test_utility_page_lists_sent_invitations_and_its_admins_revoke_them(api, client, world):
    utility = world.utility
    pk = invite(api.as_user(world["utility_admin"]), "guest@example.org", "Utility", utility).document["data"]["id"]
    revoke = f"/utilities/{utility.pk}/invitations/{pk}/revoke/"

    client.force_login(world["leader"], backend="accounts.backends.RosterBackend")
    assert "guest@example.org" not in client.get(f"/utilities/{utility.pk}/").content.decode()
    assert client.post(revoke).status_code == 404  # leaders do not see the utility's invitations
    assert Invitation.objects.get(pk=pk).status == "pending"

    client.force_login(world["utility_admin"], backend="accounts.backends.RosterBackend")
    page = client.get(f"/utilities/{utility.pk}/").content.decode()
    assert "guest@example.org" in page and revoke in page
    assert client.post(revoke).status_code == 302
    assert Invitation.objects.get(pk=pk).status == "revoked"
    assert revoke not in client.get(f"/utilities/{utility.pk}/").content.decode()
    entry = AuditLogEntry.objects.filter(object_pk=str(pk), content_type__model="invitation").latest("id")
    assert entry.actor_id == world["utility_admin"].pk


@pytest.mark.parametrize("persona", ["site_admin", "account_admin"])
def test_the_list_costs_a_fixed_number_of_queries(api, world, persona, django_assert_max_num_queries):
    for n in range(12):
        assert invite(api.as_user(world["account_admin"]), f"n{n}@example.org", target=world.account).status_code == 201
    caller = api.as_user(world[persona])
    caller.get(URL)
    for size in (1, 50):
        with django_assert_max_num_queries(4):
            response = caller.get(f"{URL}?page_size={size}")
        assert response.status_code == 200, response.document
    assert len(response.document["data"]) == 12


@pytest.mark.parametrize("deleted", ["utility", "account"])
def test_a_target_with_invitations_can_be_deleted_and_its_history_stays(api, world, deleted):
    """The deletion entries of invitations (and memberships) removed in a cascade name the account."""
    admin = api.as_user(world["account_admin"])
    utility, account = world.utility, world.account
    revoked = invite(admin, "b@example.org", "Utility", utility).document["data"]["id"]
    assert admin.delete(f"{URL}{revoked}/").status_code == 204
    assert world["member"].memberships.filter(utility=utility).exists()
    url = f"/api/v1/utilities/{utility.pk}/" if deleted == "utility" else f"/api/v1/accounts/{account.pk}/"
    response = admin.delete(url)
    assert response.status_code == 204, response.content
    assert not Invitation.objects.filter(pk=revoked).exists()
    removed = AuditLogEntry.objects.get(action=AuditLogEntry.Action.DELETE, object_pk=str(revoked),
                                        content_type__model="invitation")
    assert removed.account_id == account.pk
    memberships = AuditLogEntry.objects.filter(action=AuditLogEntry.Action.DELETE, content_type__model="membership")
    assert memberships.exists() and set(memberships.values_list("account_id", flat=True)) == {account.pk}


def test_nobody_is_invited_into_the_default_account(api, world):
    from accounts.models import Account

    default = Account.objects.get(is_default=True)
    response = invite(api.as_user(world["site_admin"]), "x@example.org", target=default)
    assert response.status_code == 400 and response.document["errors"][0]["source"]["pointer"] == \
        "/data/relationships/account"
    assert not Invitation.objects.exists() and not mail.outbox


def test_invitations_per_inviter_are_limited(api, world, settings):
    settings.ROSTER_INVITATIONS_PER_HOUR = 3
    admin = api.as_user(world["account_admin"])
    assert [invite(admin, f"p{n}@example.org", target=world.account).status_code for n in range(3)] == [201] * 3
    refused = invite(admin, "p3@example.org", target=world.account)
    assert refused.status_code == 429 and refused.document["errors"][0]["code"] == "too_many_attempts"
    assert Invitation.objects.count() == 3 and len(mail.outbox) == 3
    # someone else's budget is their own
    assert invite(api.as_user(world["site_admin"]), "p3@example.org", target=world.account).status_code == 201


def test_an_invitation_dies_with_its_senders_right_to_invite(api, world):
    """An admin invites a second address of their own as admin, then is removed: the
    invitation must not let them back in."""
    sender = UserFactory()
    AccountMembership.objects.create(account=world.account, user=sender, role="admin")
    second = UserFactory(email="second@example.org")
    pk = invite(api.as_user(sender), second.email, target=world.account, role="admin").document["data"]["id"]
    AccountMembership.objects.filter(account=world.account, user=sender).delete()
    refused = api.as_user(second).post(f"{URL}{pk}/accept/")
    assert refused.status_code == 409 and refused.document["errors"][0]["code"] == "conflict"
    assert not AccountMembership.objects.filter(user=second).exists()
    assert Invitation.objects.get(pk=pk).status == "pending"


def test_a_name_with_a_line_break_is_refused_and_invitation_mail_stays_one_line(api, world):
    admin = api.as_user(world["account_admin"])
    renamed = admin.patch(f"/api/v1/accounts/{world.account.pk}/",
                          body("Account", {"name": "Evil\nBcc: victim@example.org"}, id=world.account.pk))
    assert renamed.status_code == 400 and renamed.document["errors"][0]["source"]["pointer"] == \
        "/data/attributes/name"
    assert invite(admin, "x@example.org", target=world.account).status_code == 201
    assert "\n" not in mail.outbox[-1].subject
