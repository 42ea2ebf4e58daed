"""factory_boy factories, one for every model the tests build (DESIGN.md, Layout: tests/).

Factories write rows directly, as fixtures should: they skip the services' rules (last
admin, seats, who may add whom) so a test can set up any state, including ones the API
would refuse. The services are what the tests exercise.
"""

import io
import secrets
from datetime import timedelta

import factory
from django.conf import settings
from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.models import (
    ACTIVATION_ALPHABET,
    ACTIVATION_CODE_LENGTH,
    Account,
    AccountMembership,
    AccountRole,
    ActivationCode,
    Avatar,
    Contact,
    Role,
    Session,
    User,
    hash_token,
)
from memberships.models import Membership, Utility

PASSWORD = "correct horse battery staple"


# --------------------------------------------------------------------------- people


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    email_verified = True
    username = factory.Sequence(lambda n: f"person{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or PASSWORD)
        if create:
            self.save(update_fields=["password"])

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        """UserFactory(roles=[role, ...])."""
        if create and extracted:
            self.roles.add(*extracted)


class SiteAdminFactory(UserFactory):
    is_superuser = True
    is_staff = True


def permission(name: str) -> Permission:
    """The Permission row of "app_label.codename"."""
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Role {n}")
    description = "A role for tests."

    @factory.post_generation
    def permissions(self, create, extracted, **kwargs):
        """RoleFactory(permissions=["accounts.add_user", ...])."""
        if create and extracted:
            self.permissions.add(*(permission(name) for name in extracted))


def holder_of(*permissions, **user_fields) -> User:
    """A user holding the given global permissions through a Role of their own."""
    return UserFactory(roles=[RoleFactory(permissions=list(permissions))], **user_fields)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    owner = factory.SubFactory(UserFactory)
    contact = factory.SubFactory(UserFactory)


class SessionFactory(factory.django.DjangoModelFactory):
    """A live bearer session, as `accounts.services.session_create` opens one. The plain
    token is only on the built object (`session.token`): the table keeps its hash."""

    class Meta:
        model = Session

    user = factory.SubFactory(UserFactory)
    token = factory.LazyFunction(lambda: secrets.token_urlsafe(32))
    key_hash = factory.LazyAttribute(lambda o: hash_token(o.token))
    created = factory.LazyFunction(timezone.now)
    last_seen_at = factory.SelfAttribute("created")
    absolute_expires_at = factory.LazyAttribute(lambda o: o.created + settings.ROSTER_SESSION_ABSOLUTE_TTL)
    expires_at = factory.LazyAttribute(
        lambda o: min(o.created + settings.ROSTER_SESSION_IDLE_TTL, o.absolute_expires_at))
    user_agent = "pytest"

    @classmethod
    def _create(cls, model_class, *args, token, **kwargs):
        session = super()._create(model_class, *args, **kwargs)
        session.token = token
        return session

    @classmethod
    def _build(cls, model_class, *args, token, **kwargs):
        session = super()._build(model_class, *args, **kwargs)
        session.token = token
        return session


def png_bytes(size=(8, 8), colour=(200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


class AvatarFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Avatar

    user = factory.SubFactory(UserFactory)
    image = factory.LazyFunction(png_bytes)
    content_type = "image/png"


# --------------------------------------------------------------------------- accounts


class AccountRoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountRole

    name = factory.Sequence(lambda n: f"Label {n}")
    description = "An account label for tests."


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Account {n}")

    @factory.post_generation
    def account_roles(self, create, extracted, **kwargs):
        """AccountFactory(account_roles=[label, ...])."""
        if create and extracted:
            self.account_roles.add(*extracted)


def default_account() -> Account:
    """The site's default account (made by a migration), where personal utilities live."""
    return Account.objects.get(is_default=True)


class AccountMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountMembership

    user = factory.SubFactory(UserFactory)
    account = factory.SubFactory(AccountFactory)
    role = AccountMembership.Role.USER


class ActivationCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ActivationCode

    account = factory.SubFactory(AccountFactory)
    code = factory.LazyFunction(
        lambda: "".join(secrets.choice(ACTIVATION_ALPHABET) for _ in range(ACTIVATION_CODE_LENGTH)))
    issued_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda o: o.issued_at + timedelta(hours=1))


# --------------------------------------------------------------------------- utilities


class UtilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Utility

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Utility {n}")
    billing_day = 1


class PersonalUtilityFactory(UtilityFactory):
    """A user's personal utility: in the default account, the owner its admin (as
    `memberships.services.personal_utility_create` makes it)."""

    class Meta:
        model = Utility
        skip_postgeneration_save = True

    personal_owner = factory.SubFactory(UserFactory)
    account = factory.LazyFunction(default_account)
    name = factory.LazyAttribute(lambda o: f"{o.personal_owner.username}'s utility")

    @factory.post_generation
    def owner_membership(self, create, extracted, **kwargs):
        if create:
            Membership.objects.create(user=self.personal_owner, utility=self, role=Membership.Role.ADMIN,
                                      is_subscriber=False)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    utility = factory.SubFactory(UtilityFactory)
    role = Membership.Role.SPECTATOR
    is_subscriber = False
