"""Event streams in the admin: pages load without the token's hash, adding one shows its read
token once (a message) and is audited with its actor, deleting goes through the service."""

import pytest

from accounts.models import AuditLogEntry
from billing.events.models import EventStream, hash_read_token
from billing.events.services import event_stream_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, site_admin):
    client.force_login(site_admin)
    return client


def test_pages_never_show_the_hash(admin_client):
    owner = UserFactory()
    stream, token = event_stream_create(actor=owner, user=owner)
    for url in ("/admin/billing/eventstream/", f"/admin/billing/eventstream/{stream.pk}/change/",
                f"/admin/billing/eventstream/{stream.pk}/history/", "/admin/billing/eventstream/add/",
                f"/admin/billing/eventstream/{stream.pk}/delete/"):
        page = admin_client.get(url)
        assert page.status_code == 200, url
        text = page.content.decode()
        assert stream.read_token_hash not in text and token not in text, url


def test_adding_shows_the_token_once_and_is_audited(admin_client, site_admin):
    owner = UserFactory()
    response = admin_client.post("/admin/billing/eventstream/add/", {"user": owner.pk, "format": "text"},
                                 follow=True)
    assert response.status_code == 200
    stream = EventStream.objects.get(user=owner)
    shown = [str(message) for message in response.context["messages"]]
    token = next(text.rsplit(" ", 1)[-1] for text in shown if "read token" in text)
    assert stream.read_token_hash == hash_read_token(token) and stream.format == "text"
    entry = AuditLogEntry.objects.get(content_type__model="eventstream", object_pk=str(stream.pk), action=0)
    assert entry.actor_id == site_admin.pk and token not in str(entry.changes)
    again = admin_client.get(f"/admin/billing/eventstream/{stream.pk}/change/")
    assert token not in again.content.decode()


def test_deleting_is_audited(admin_client, site_admin):
    owner = UserFactory()
    stream, _ = event_stream_create(actor=owner, user=owner)
    response = admin_client.post(f"/admin/billing/eventstream/{stream.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not EventStream.objects.exists()
    assert AuditLogEntry.objects.filter(content_type__model="eventstream", object_pk=str(stream.pk), action=2,
                                        actor=site_admin).exists()
