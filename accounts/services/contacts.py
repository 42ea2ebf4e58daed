"""The address book."""


from django.db import IntegrityError, transaction

from accounts.models import (
    Contact,
    User,
)
from core.errors import Conflict, ServiceError

# --------------------------------------------------------------------------- contacts


@transaction.atomic
def contact_create(*, owner: User, contact: User) -> Contact:
    if contact.pk == owner.pk:
        raise ServiceError("You cannot add yourself as a contact.", field="contact")
    if Contact.objects.filter(owner=owner, contact=contact).exists():
        raise Conflict("This user is already in your contacts.", code="duplicate")
    try:
        with transaction.atomic():
            return Contact.objects.create(owner=owner, contact=contact)
    except IntegrityError:
        raise Conflict("This user is already in your contacts.", code="duplicate") from None


@transaction.atomic
def contact_delete(*, owner: User, contact: Contact) -> None:
    contact.delete()


