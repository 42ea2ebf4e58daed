"""The events cursor under concurrent writers on PostgreSQL, where ids are taken before
commit: writers in threads commit transactions of varying length in an order unrelated to
their ids while a reader follows the cursor; it gets every entry exactly once (core.txid)."""

import random
import threading
import time

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction

from accounts.models import Account, AuditLogEntry
from billing.events.selectors import entries_after

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

WRITERS = 6
TRANSACTIONS = 25


def write(seed, written, errors):
    rng = random.Random(seed)
    content_type = ContentType.objects.get_for_model(Account)
    try:
        for number in range(TRANSACTIONS):
            with transaction.atomic():
                for _ in range(rng.randint(1, 3)):
                    entry = AuditLogEntry.objects.create(content_type=content_type, object_pk=str(number),
                                                         object_id=number, object_repr=f"writer {seed}",
                                                         action=0, changes={})
                    written.append(entry.pk)
                    # Held open a varying while: later ids commit before earlier ones.
                    time.sleep(rng.choice((0, 0, 0.001, 0.005, 0.02)))
    except Exception as exc:  # reported by the test
        errors.append(exc)
    finally:
        connection.close()


def test_a_polling_reader_never_skips_or_repeats_an_entry():
    before = set(AuditLogEntry.objects.values_list("pk", flat=True))
    written, errors, seen = [], [], []
    writers = [threading.Thread(target=write, args=(seed, written, errors)) for seed in range(WRITERS)]
    for thread in writers:
        thread.start()
    position = None
    while any(thread.is_alive() for thread in writers):
        page = entries_after(position, limit=7)
        if page:
            seen += [entry.id for entry in page]
            position = _position(page[-1])
    for thread in writers:
        thread.join()
    # The rest, once every writer is done. The horizon is the whole cluster's: a transaction
    # open elsewhere (another test database's, under pytest-xdist) holds entries back for a
    # while, never for good, so an empty page is "not yet" until the deadline.
    deadline = time.monotonic() + 120
    while len(set(seen) - before) < len(written) and time.monotonic() < deadline:
        page = entries_after(position, limit=7)
        if page:
            seen += [entry.id for entry in page]
            position = _position(page[-1])
        else:
            time.sleep(0.05)
    assert not errors, errors
    assert len(seen) == len(set(seen)), "an entry came twice"
    new = [pk for pk in seen if pk not in before]
    assert sorted(new) == sorted(written), "an entry was skipped"
    assert len(written) >= WRITERS * TRANSACTIONS


def _position(entry):
    from billing.events.selectors import Position

    return Position.of(entry)
