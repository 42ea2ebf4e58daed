"""Fill a database with a believable demo and print how to sign in.

Idempotent: every object is looked up by its natural key (email, name, pair) and only
created when missing, so a second run adds nothing. Each part of the demo is one
`seed_<section>` method listed in `SECTIONS`; later apps add theirs (utilities,
memberships, products, charges) the same way.
"""

import json
import os
import shlex
from collections import Counter

from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import services
from accounts.models import Account, AccountRole, Contact, Role, User
from config.errors import ServiceError
from memberships import services as membership_services
from memberships.models import AccountMembership

# `make run PORT=...` passes the port on, so the printed addresses are the real ones.
BASE_URL = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
ADMIN_EMAIL = "admin@roster.example"
DEFAULT_PASSWORD = "roster-demo-2026"

# (email, first name, last name, extra options)
DEMO_USERS = [
    ("amira.haddad@example.com", "Amira", "Haddad", {}),
    ("jonas.berg@example.org", "Jonas", "Berg", {}),
    ("priya.raman@example.net", "Priya", "Raman", {}),
    ("tomas.ortega@example.com", "Tomás", "Ortega", {}),
    ("mei.chen@example.org", "Mei", "Chen", {}),
    ("kwame.mensah@example.net", "Kwame", "Mensah", {}),
    ("sofia.rossi@example.com", "Sofia", "Rossi", {}),
    ("lukas.novak@example.org", "Lukas", "Novák", {}),
    ("hannah.schmidt@example.net", "Hannah", "Schmidt", {}),
    ("daniel.okafor@example.com", "Daniel", "Okafor", {}),
    ("ines.duarte@example.org", "Inês", "Duarte", {"strategy": User.Strategy.LDAP}),
    ("elena.petrova@example.net", "Elena", "Petrova", {"is_active": False}),
]
# The ordinary user the sign-in instructions name.
DEMO_USER_EMAIL = DEMO_USERS[0][0]

# (name, description, permissions). A role is created only once all its permissions
# exist, so a role for an app that has not shipped its models yet is skipped, not faked.
DEMO_ROLES = [
    ("Support agent", "Reads people's profiles and corrects them on request.",
     ["accounts.view_user", "accounts.change_user"]),
    ("User manager", "Creates users and keeps their profiles up to date.",
     ["accounts.add_user", "accounts.change_user", "accounts.view_user"]),
    ("Billing service", "A merchant's service account: posts charges and reads the secrets it needs.",
     ["billing.add_charge", "billing.view_secret_asset"]),
]

# Who holds which role.
DEMO_ROLE_HOLDERS = {
    "priya.raman@example.net": ["Support agent"],
    "jonas.berg@example.org": ["User manager"],
}

# (owner, contact): address-book entries.
DEMO_CONTACTS = [
    ("amira.haddad@example.com", "jonas.berg@example.org"),
    ("amira.haddad@example.com", "priya.raman@example.net"),
    ("amira.haddad@example.com", "sofia.rossi@example.com"),
    ("jonas.berg@example.org", "amira.haddad@example.com"),
    ("jonas.berg@example.org", "kwame.mensah@example.net"),
    ("priya.raman@example.net", "mei.chen@example.org"),
    ("tomas.ortega@example.com", "sofia.rossi@example.com"),
    ("sofia.rossi@example.com", "tomas.ortega@example.com"),
    ("mei.chen@example.org", "lukas.novak@example.org"),
    ("kwame.mensah@example.net", "daniel.okafor@example.com"),
    ("hannah.schmidt@example.net", "amira.haddad@example.com"),
    ("daniel.okafor@example.com", "hannah.schmidt@example.net"),
]

# (name, description): labels for accounts.
DEMO_ACCOUNT_ROLES = [
    ("Supplier", "Sells energy to end customers."),
    ("Aggregator", "Pools flexible demand and generation and trades it."),
    ("Consultancy", "Advises other accounts and reads their data on their behalf."),
]

# (name, consultancy, account roles, settings). A consultancy comes before its clients.
DEMO_ACCOUNTS = [
    ("Gridwise Consulting", None, ["Consultancy"], {"primary_color": "#1f4e79", "secondary_color": "#f2a900"}),
    ("Northwind Energy", "Gridwise Consulting", ["Supplier"],
     {"primary_color": "#0b6e4f", "secondary_color": "#f4f1de", "data_retention": 730}),
    ("Harbor Utilities Co-op", "Gridwise Consulting", ["Supplier", "Aggregator"],
     {"primary_color": "#1d3557", "secondary_color": "#e63946", "custom_attributes": {"region": "coastal",
                                                                                       "members": 1840}}),
    ("Alpine Power", "Gridwise Consulting", ["Aggregator"],
     {"primary_color": "#5a189a", "exec_interval": 600, "default_product_privacy": "DEFAULT_PUBLIC"}),
    ("Lakeside Solar Collective", None, ["Aggregator"], {"primary_color": "#ff9f1c"}),
]

# account → [(email, role)]. The first admin listed creates the account (and so becomes
# its admin); the site admin then sets its consultancy and account roles.
DEMO_ACCOUNT_MEMBERS = {
    "Gridwise Consulting": [
        ("hannah.schmidt@example.net", "admin"),
        ("daniel.okafor@example.com", "consultant"),
    ],
    "Northwind Energy": [
        ("amira.haddad@example.com", "admin"),
        ("jonas.berg@example.org", "admin"),
        ("priya.raman@example.net", "consultant"),
        ("tomas.ortega@example.com", "user"),
        ("mei.chen@example.org", "user"),
        ("ines.duarte@example.org", "user"),
    ],
    "Harbor Utilities Co-op": [
        ("kwame.mensah@example.net", "admin"),
        ("sofia.rossi@example.com", "consultant"),
        ("lukas.novak@example.org", "user"),
        ("amira.haddad@example.com", "user"),
        ("elena.petrova@example.net", "user"),
    ],
    "Alpine Power": [
        ("sofia.rossi@example.com", "admin"),
        ("mei.chen@example.org", "admin"),
        ("priya.raman@example.net", "consultant"),
        ("kwame.mensah@example.net", "user"),
        ("jonas.berg@example.org", "user"),
        ("lukas.novak@example.org", "user"),
    ],
    "Lakeside Solar Collective": [
        ("lukas.novak@example.org", "admin"),
        ("daniel.okafor@example.com", "user"),
        ("hannah.schmidt@example.net", "user"),
    ],
}
# Named in the sign-in instructions: a consultant of the consultancy, who reads its clients.
DEMO_CONSULTANT_EMAIL = "daniel.okafor@example.com"


class Command(BaseCommand):
    help = "Fill the database with a demo (idempotent) and print how to sign in."

    SECTIONS = ("users", "roles", "contacts", "accounts")

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true",
            help="Do nothing when the database already holds any user.",
        )

    def handle(self, *args, if_empty=False, **options):
        self.verbosity = options.get("verbosity", 1)
        if if_empty and User.objects.exists():
            if self.verbosity > 1:
                self.stdout.write("The database already has users; nothing seeded.")
            return
        self.password = os.environ.get("ROSTER_DEMO_PASSWORD") or DEFAULT_PASSWORD
        self.created = Counter()
        self.users = {}
        try:
            with transaction.atomic():
                for section in self.SECTIONS:
                    getattr(self, f"seed_{section}")()
        except (ServiceError, ValidationError) as exc:
            detail = exc.detail if isinstance(exc, ServiceError) else "; ".join(exc.messages)
            raise CommandError(f"Seeding failed, nothing was saved: {detail}") from exc
        self.print_summary()
        self.print_sign_in()

    # ------------------------------------------------------------------- sections

    def seed_users(self):
        existed = User.objects.filter(email__iexact=ADMIN_EMAIL).exists()
        self.admin = self.get_or_create_user(ADMIN_EMAIL, first_name="Site", last_name="Admin")
        if not existed:
            # No service grants site-admin rights; the save is audited like any other.
            self.admin.is_superuser = self.admin.is_staff = True
            self.admin.save(update_fields=["is_superuser", "is_staff"])
        elif not (self.admin.is_active and self.admin.is_superuser):
            raise CommandError(f"{ADMIN_EMAIL} exists but is not an active site admin; "
                               "fix that in the admin or seed a fresh database.")
        for email, first_name, last_name, extra in DEMO_USERS:
            self.users[email] = self.get_or_create_user(email, first_name=first_name, last_name=last_name, **extra)

    def seed_roles(self):
        for name, description, permission_names in DEMO_ROLES:
            role = Role.objects.filter(name__iexact=name).first()
            if role is not None:
                continue
            missing = [p for p in permission_names if not permission_exists(p)]
            if missing:
                self.note(f"Skipped role {name!r}: not installed yet: {', '.join(missing)}.")
                continue
            services.role_create(
                actor=self.admin, name=name, description=description,
                permissions=services.permissions_from_names(permission_names),
            )
            self.created["roles"] += 1
        for email, role_names in DEMO_ROLE_HOLDERS.items():
            user = self.users[email]
            held = set(user.roles.all())
            wanted = held | set(Role.objects.filter(name__in=role_names))
            if wanted != held:
                services.user_update(actor=self.admin, user=user, data={"roles": list(wanted)})

    def seed_contacts(self):
        for owner_email, contact_email in DEMO_CONTACTS:
            owner, contact = self.users[owner_email], self.users[contact_email]
            if not Contact.objects.filter(owner=owner, contact=contact).exists():
                services.contact_create(owner=owner, contact=contact)
                self.created["contacts"] += 1

    def seed_accounts(self):
        account_roles = {}
        for name, description in DEMO_ACCOUNT_ROLES:
            role = AccountRole.objects.filter(name__iexact=name).first()
            if role is None:
                role = services.account_role_create(actor=self.admin, name=name, description=description)
                self.created["account roles"] += 1
            account_roles[name] = role
        self.accounts = {}
        for name, consultancy, role_names, settings in DEMO_ACCOUNTS:
            account = Account.objects.filter(name__iexact=name).first()
            if account is None:
                creator = self.users[self.first_admin(name)]
                account = services.account_create(actor=creator, data={"name": name, **settings})
                # Only site admins set an account's consultancy and labels.
                services.account_update(actor=self.admin, account=account, data={
                    "consultancy_account": self.accounts[consultancy] if consultancy else None,
                    "account_roles": [account_roles[role_name] for role_name in role_names],
                })
                self.created["accounts"] += 1
            self.accounts[name] = account
        for name, members in DEMO_ACCOUNT_MEMBERS.items():
            account = self.accounts[name]
            creator = self.users[self.first_admin(name)]
            existing = set(AccountMembership.objects.filter(account=account).values_list("user_id", flat=True))
            for email, role in members:
                user = self.users[email]
                if user.pk not in existing:
                    membership_services.account_membership_create(actor=creator, user=user, account=account,
                                                                  role=role)
                    self.created["account memberships"] += 1

    # ------------------------------------------------------------------- helpers

    @staticmethod
    def first_admin(account_name):
        return next(email for email, role in DEMO_ACCOUNT_MEMBERS[account_name] if role == "admin")

    def get_or_create_user(self, email, **fields):
        user = User.objects.filter(email__iexact=email).first()
        if user is not None:
            return user
        ldap = fields.get("strategy") == User.Strategy.LDAP
        user = services.user_create(actor=None, email=email, password=None if ldap else self.password, **fields)
        self.created["users"] += 1
        return user

    def note(self, message):
        if self.verbosity > 0:
            self.stdout.write(message)

    def print_summary(self):
        made = ", ".join(f"{count} {kind}" for kind, count in self.created.items() if count) or "nothing new"
        self.stdout.write(self.style.SUCCESS(f"Roster demo data is ready (created {made})."))
        self.print_accounts()

    def print_accounts(self):
        """Who administers and who consults for each demo account, as the database has it now."""
        accounts = (
            Account.objects.filter(pk__in=[account.pk for account in self.accounts.values()])
            .select_related("consultancy_account")
            .prefetch_related("client_accounts")
            .order_by("name")
        )
        people = {}
        for account_id, role, email in (
            AccountMembership.objects.filter(account__in=accounts, role__in=["admin", "consultant"])
            .order_by("user__email")
            .values_list("account_id", "role", "user__email")
        ):
            people.setdefault((account_id, role), []).append(email)
        lines = ["", "Accounts (sign in as one of their admins or consultants):"]
        for account in accounts:
            clients = sorted(client.name for client in account.client_accounts.all())
            if clients:
                about = "consultancy for " + ", ".join(clients)
            elif account.consultancy_account is not None:
                about = f"advised by {account.consultancy_account.name}"
            else:
                about = "no consultancy"
            lines.append(f"  {account.name}  ({about})")
            for role, label in (("admin", "admins"), ("consultant", "consultants")):
                emails = people.get((account.pk, role))
                lines.append(f"    {label + ':':<13}{', '.join(emails) if emails else '-'}")
        self.stdout.write("\n".join(lines))

    @staticmethod
    def roles_of(email, role):
        names = list(
            AccountMembership.objects.filter(user__email__iexact=email, role=role)
            .order_by("account__name")
            .values_list("account__name", flat=True)
        )
        return f"{role} of {', '.join(names)}" if names else f"{role} of no account"

    def print_sign_in(self):
        body = json.dumps({"data": {"type": "Session",
                                    "attributes": {"email": ADMIN_EMAIL, "password": self.password}}})
        lines = [
            "",
            "Sign in:",
            f"  Portal   {BASE_URL}/",
            f"  Admin    {BASE_URL}/admin/",
            f"  API      {BASE_URL}/api/v1/",
            "",
            f"  Site admin     {ADMIN_EMAIL}  password: {self.password}",
            f"  Account admin  {DEMO_USER_EMAIL}  password: {self.password}"
            f"  ({self.roles_of(DEMO_USER_EMAIL, 'admin')}; not staff)",
            f"  Consultant     {DEMO_CONSULTANT_EMAIL}  password: {self.password}"
            f"  ({self.roles_of(DEMO_CONSULTANT_EMAIL, 'consultant')}: reads its clients' accounts)",
            "  (passwords as seeded; a run on an existing database keeps any changed since)",
            "",
            "Get an API token:",
            f"  curl -X POST {BASE_URL}/api/v1/sessions/ \\",
            "    -H 'Content-Type: application/vnd.api+json' -H 'Accept: application/vnd.api+json' \\",
            f"    -d {shlex.quote(body)}",
            "",
            "then send it as: -H 'Authorization: Bearer <token>'",
        ]
        self.stdout.write("\n".join(lines))


def permission_exists(name: str) -> bool:
    app_label, _, codename = name.partition(".")
    return Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists()
