"""Fill a database with a believable demo and print how to sign in.

Idempotent: every object is looked up by its natural key (email, name, pair) and only
created when missing, so a second run adds nothing. Each part of the demo is one
`seed_<section>` method listed in `SECTIONS`; later apps add theirs (products, charges)
the same way. Everything is written through the services, so the demo obeys the rules
the API does (subscriber seats included) and has an audit history.
"""

import json
import os
import random
import secrets
import shlex
from collections import Counter
from datetime import UTC, datetime, time
from decimal import Decimal

from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts import services
from accounts import services as account_services
from accounts.models import Account, AccountMembership, AccountRole, Contact, Role, User
from billing import services as billing_services
from billing.events.models import EventStream
from billing.events.services import event_stream_create
from billing.models import Asset, Charge, Merchant, Product, ProductType
from billing.periods import period_before, period_containing
from core.errors import ServiceError
from memberships import services as membership_services
from memberships.models import Membership, Utility

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
    # One person per utility role, with nothing else, for trying the portal as that role.
    ("yara.nasser@example.com", "Yara", "Nasser", {}),
    ("nora.lind@example.org", "Nora", "Lind", {}),
    ("oskar.weber@example.net", "Oskar", "Weber", {}),
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

# (account, name, billing day, subscriber seats (None: unlimited), members drawn from the co-op
# members below). The consultancy has none: it advises, it is not billed.
DEMO_UTILITIES = [
    ("Northwind Energy", "Northwind Residential", 1, None, 32),
    ("Northwind Energy", "Northwind Business", 15, 20, 26),
    ("Northwind Energy", "Northwind EV Charging", 28, 12, 22),
    ("Harbor Utilities Co-op", "Harbor North Shore", 5, None, 34),
    ("Harbor Utilities Co-op", "Harbor South Shore", 5, 30, 30),
    ("Harbor Utilities Co-op", "Harbor Marina", 12, 8, 18),
    ("Harbor Utilities Co-op", "Harbor Community Solar", 20, None, 28),
    ("Alpine Power", "Alpine Valley Grid", 10, None, 32),
    ("Alpine Power", "Alpine Ski Resorts", 3, 15, 20),
    ("Lakeside Solar Collective", "Lakeside Rooftops", 7, None, 26),
    ("Lakeside Solar Collective", "Lakeside Battery Pool", 14, 10, 16),
]

# utility → [(email, role, subscribes)]: the named demo people, added before the co-op members
# so they have their seats. Account admins need no membership: they act as their utilities' admins.
DEMO_UTILITY_MEMBERS = {
    "Northwind Residential": [
        ("tomas.ortega@example.com", "leader", True),
        ("mei.chen@example.org", "member", True),
        ("ines.duarte@example.org", "spectator", False),
        ("nora.lind@example.org", "member", True),
        ("oskar.weber@example.net", "spectator", False),
    ],
    "Northwind Business": [("tomas.ortega@example.com", "admin", False)],
    "Northwind EV Charging": [("yara.nasser@example.com", "admin", False)],
    "Harbor North Shore": [("elena.petrova@example.net", "member", False)],
    "Harbor Marina": [
        ("lukas.novak@example.org", "leader", True),
        ("amira.haddad@example.com", "member", True),
    ],
    "Alpine Valley Grid": [
        ("kwame.mensah@example.net", "leader", True),
        ("jonas.berg@example.org", "member", True),
        ("lukas.novak@example.org", "spectator", False),
    ],
    "Lakeside Rooftops": [
        ("daniel.okafor@example.com", "admin", True),
        ("hannah.schmidt@example.net", "member", True),
    ],
}
# Named in the sign-in instructions: someone who leads a utility without administering an account.
DEMO_LEADER_EMAIL = "tomas.ortega@example.com"
# Named too: a utility admin, a member and a spectator who hold only that role.
DEMO_UTILITY_ADMIN_EMAIL = "yara.nasser@example.com"
DEMO_MEMBER_EMAIL = "nora.lind@example.org"
DEMO_SPECTATOR_EMAIL = "oskar.weber@example.net"

# (email, billing day): demo people with a personal utility in the default account.
DEMO_PERSONAL_UTILITIES = [("amira.haddad@example.com", 1), ("mei.chen@example.org", 16)]

# The merchant whose service posts the demo's charges: (name, kind, url).
DEMO_MERCHANT = ("Squonk Data Manager", "DATA_MANAGER", "https://squonk.example.org/")
# Assets: (name, scope, description, content or None for a generated secret). Utility assets
# go to the first demo utility; the merchant's service reads them through /secret/.
DEMO_ASSETS = [
    ("platform-notice", "global", "Shown by every data manager instance.", "Maintenance on Sundays 06:00-08:00 UTC."),
    ("object-store-url", "utility", "Where the utility's data manager keeps its files.",
     "https://objects.example.org/demo/"),
    ("object-store-key", "utility", "The data manager's access key for the object store.", None),
]
# Project-tier flavours, handed out in turn to the demo utilities' project products.
DEMO_FLAVOURS = ["SILVER", "BRONZE", "GOLD", "EVALUATION"]
# Storage products: (allowance, limit) in coins per billing period.
DEMO_STORAGE_COINS = (100, 300)
# Billing periods of charges: the current one and the five before it.
DEMO_CHARGE_PERIODS = 6

# The co-op members who fill the utilities: member01@example.org ... member60@example.org.
# They sign in through the directory (LDAP), so they have no local password: hashing sixty
# passwords with Argon2 would take most of the seed's time, and nobody signs in as them.
MEMBER_COUNT = 60


def member_email(number: int) -> str:
    return f"member{number:02d}@example.org"


def co_op_roster(index: int, size: int):
    """The co-op members of the index-th demo utility, as [(email, role, wants to subscribe)].

    Deterministic, so a second run asks for the same rows: a window of the members, shifted
    per utility, with one admin, a leader in eight, a member in three, the rest spectators;
    everyone but half the spectators wants to subscribe (seats permitting).
    """
    roster = []
    for position in range(size):
        number = (index * 23 + position) % MEMBER_COUNT + 1
        if position == 0:
            role = Membership.Role.ADMIN
        elif position % 8 == 1:
            role = Membership.Role.LEADER
        elif position % 3 == 0:
            role = Membership.Role.MEMBER
        else:
            role = Membership.Role.SPECTATOR
        roster.append((member_email(number), role, role != Membership.Role.SPECTATOR or position % 2 == 0))
    return roster


class Command(BaseCommand):
    help = "Fill the database with a demo (idempotent) and print how to sign in."

    SECTIONS = ("users", "roles", "contacts", "accounts", "utilities", "billing", "assets", "events")

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
                self.deactivate_leavers()
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
        self.leavers = []
        for email, first_name, last_name, extra in DEMO_USERS:
            # People who left were members first and were deactivated later (inactive people
            # cannot be added anywhere): they are deactivated once everything is seeded.
            active = extra.get("is_active", True)
            fields = {key: value for key, value in extra.items() if key != "is_active"}
            self.users[email] = self.get_or_create_user(email, first_name=first_name, last_name=last_name, **fields)
            if not active:
                self.leavers.append(self.users[email])

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
            # The demo is arranged by its site admin: an account's own admin could add only
            # people they already share something with (SPEC §1) and would invite the rest.
            creator = self.admin
            existing = set(AccountMembership.objects.filter(account=account).values_list("user_id", flat=True))
            for email, role in members:
                user = self.users[email]
                if user.pk not in existing:
                    account_services.account_membership_create(actor=creator, user=user, account=account,
                                                                  role=role)
                    self.created["account memberships"] += 1

    def seed_utilities(self):
        for number in range(1, MEMBER_COUNT + 1):
            email = member_email(number)
            self.users[email] = self.get_or_create_user(email, first_name="Member", last_name=f"{number:02d}",
                                                        strategy=User.Strategy.LDAP)
        self.utilities = {}
        for account_name, name, billing_day, seats, _size in DEMO_UTILITIES:
            account = self.accounts[account_name]
            utility = Utility.objects.filter(account=account, name__iexact=name).first()
            if utility is None:
                utility = membership_services.utility_create(
                    actor=self.users[self.first_admin(account_name)], account=account, name=name,
                    billing_day=billing_day, subscriber_seats=seats,
                )
                self.created["utilities"] += 1
            self.utilities[name] = utility
        for email, billing_day in DEMO_PERSONAL_UTILITIES:
            user = self.users[email]
            if not Utility.objects.filter(personal_owner=user).exists():
                membership_services.personal_utility_create(user=user, billing_day=billing_day)
                self.created["personal utilities"] += 1
        existing = set(
            Membership.objects.filter(utility__in=self.utilities.values()).values_list("user_id", "utility_id")
        )
        for index, (_account_name, name, _day, _seats, size) in enumerate(DEMO_UTILITIES):
            utility = self.utilities[name]
            actor = self.admin
            subscribers = Membership.objects.filter(utility=utility, is_subscriber=True).count()
            for email, role, wants_to_subscribe in DEMO_UTILITY_MEMBERS.get(name, []) + co_op_roster(index, size):
                user = self.users[email]
                if (user.pk, utility.pk) in existing:
                    continue
                # Seats taken, the rest join without subscribing, as the API would have them do.
                subscribes = wants_to_subscribe and (
                    utility.subscriber_seats is None or subscribers < utility.subscriber_seats
                )
                membership_services.membership_create(actor=actor, user=user, utility=utility, role=role,
                                                      is_subscriber=subscribes)
                existing.add((user.pk, utility.pk))
                subscribers += subscribes
                self.created["memberships"] += 1

    def seed_billing(self):
        """A project-tier and a storage product in every demo utility, and six billing periods
        of charges on each (posted by the demo merchant through the charge service, so the
        coin limits hold), for the portal's charts."""
        name, kind, url = DEMO_MERCHANT
        merchant = Merchant.objects.filter(name=name).first()
        if merchant is None:
            merchant = billing_services.merchant_create(actor=self.admin, name=name, kind=kind, url=url)
            self.created["merchants"] += 1
        project_type = ProductType.objects.get(code="DATA_MANAGER_PROJECT_TIER_SUBSCRIPTION")
        storage_type = ProductType.objects.get(code="DATA_MANAGER_STORAGE_SUBSCRIPTION")
        allowance, limit = DEMO_STORAGE_COINS
        for index, (_account, utility_name, *_rest) in enumerate(DEMO_UTILITIES):
            utility = self.utilities[utility_name]
            flavour = DEMO_FLAVOURS[index % len(DEMO_FLAVOURS)]
            wanted = [
                (f"{utility_name} analytics", {"product_type": project_type, "flavour": flavour}),
                (f"{utility_name} storage",
                 {"product_type": storage_type, "allowance": allowance, "limit": limit}),
            ]
            for product_name, options in wanted:
                product = Product.objects.filter(utility=utility, name=product_name).first()
                if product is None:
                    product = billing_services.product_create(actor=self.admin, utility=utility, name=product_name,
                                                              **options)
                    self.created["products"] += 1
                if not Charge.objects.filter(product=product).exists():
                    self.seed_charges(product, utility, merchant)

    def seed_assets(self):
        """A global config value, and a utility's plain and secret assets (the secret a random
        token, never printed), attached to the demo merchant."""
        merchant = Merchant.objects.get(name=DEMO_MERCHANT[0])
        utility = self.utilities[DEMO_UTILITIES[0][1]]
        for name, scope, description, content in DEMO_ASSETS:
            scope_id = None if scope == Asset.Scope.GLOBAL else utility.pk
            if Asset.objects.filter(scope=scope, scope_id=scope_id, name=name).exists():
                continue
            billing_services.asset_create(
                actor=self.admin, name=name, scope=scope, target=None if scope_id is None else utility,
                description=description, content=secrets.token_urlsafe(32) if content is None else content,
                is_secret=content is None, merchants=[merchant])
            self.created["assets"] += 1

    def seed_events(self):
        """Event streams for the site admin (every change) and the demo account admin (their
        accounts' changes). A read token is shown once: a stream made by this run is printed
        with a command that watches it live; one made earlier keeps its token unprinted."""
        self.new_streams = []
        for email in (ADMIN_EMAIL, DEMO_USER_EMAIL):
            user = User.objects.get(email__iexact=email)
            if EventStream.objects.filter(user=user).exists():
                continue
            stream, token = event_stream_create(actor=user, user=user)
            self.new_streams.append((email, stream, token))
            self.created["event streams"] += 1

    def seed_charges(self, product, utility, merchant):
        """Two to four charges a period, each period using up to about 80% of the limit."""
        rng = random.Random(product.name)
        now = timezone.now()
        current = period_containing(utility.billing_day, now)
        storage = product.product_type.code.endswith("STORAGE_SUBSCRIPTION")
        budget = Decimal(product.limit or 500) * Decimal("0.8")
        for back in range(DEMO_CHARGE_PERIODS - 1, -1, -1):
            period = period_before(current, back)
            start = datetime.combine(period.start, time.min, tzinfo=UTC)
            end = min(datetime.combine(period.end, time.min, tzinfo=UTC), now)
            count = rng.randint(2, 4)
            for step in range(count):
                amount = (budget / count * Decimal(rng.uniform(0.4, 1.0))).quantize(Decimal("0.01"))
                charged_at = start + (end - start) * (step + rng.random()) / count
                billing_services.charge_create(
                    actor=self.admin, product=product, kind="storage" if storage else "processing",
                    amount=max(amount, Decimal("0.01")), merchant=merchant, charged_at=charged_at,
                    description="Storage for the period" if storage else f"Workflow run {step + 1}",
                    additional_data={"gib": float(amount / 4)} if storage else {"jobs": rng.randint(1, 40)})
                self.created["charges"] += 1

    # ------------------------------------------------------------------- helpers

    @staticmethod
    def first_admin(account_name):
        return next(email for email, role in DEMO_ACCOUNT_MEMBERS[account_name] if role == "admin")

    def deactivate_leavers(self):
        for user in self.leavers:
            if user.is_active:
                services.user_update(actor=self.admin, user=user, data={"is_active": False})

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
        self.print_utilities()

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

    def print_utilities(self):
        """The demo's utilities, their seats and memberships, as the database has them now."""
        utilities = (
            Utility.objects.filter(pk__in=[utility.pk for utility in self.utilities.values()])
            .select_related("account")
            .annotate(subscribers=Count("memberships", filter=Q(memberships__is_subscriber=True)))
            .order_by("account__name", "name")
        )
        personal = Utility.objects.filter(personal_owner__email__in=[e for e, _ in DEMO_PERSONAL_UTILITIES]).count()
        memberships = Membership.objects.filter(utility__in=self.utilities.values())
        roles = dict(memberships.values_list("role").annotate(n=Count("pk")).order_by())
        by_role = ", ".join(f"{roles.get(role, 0)} {role}s" for role in reversed(Membership.Role.values))
        subscribers = memberships.filter(is_subscriber=True).count()
        full = [f"{u.name} {u.subscribers}/{u.subscriber_seats}" for u in utilities
                if u.subscriber_seats is not None and u.subscribers >= u.subscriber_seats]
        lines = [
            "",
            f"Utilities: {len(utilities)} in {len({u.account_id for u in utilities})} accounts, plus {personal} "
            f"personal; {memberships.count()} memberships ({by_role}), {subscribers} subscribing.",
            f"  All seats taken: {', '.join(full) if full else '-'}",
        ]
        self.stdout.write("\n".join(lines))

    @staticmethod
    def utility_roles_of(email, roles=("admin", "leader")):
        rows = (
            Membership.objects.filter(user__email__iexact=email, role__in=roles)
            .order_by("utility__name")
            .values_list("role", "utility__name")
        )
        return "; ".join(f"{role} of {name}" for role, name in rows) or "no utility role"

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
            f"  Utility leader {DEMO_LEADER_EMAIL}  password: {self.password}"
            f"  ({self.utility_roles_of(DEMO_LEADER_EMAIL)})",
            f"  Utility admin  {DEMO_UTILITY_ADMIN_EMAIL}  password: {self.password}"
            f"  ({self.utility_roles_of(DEMO_UTILITY_ADMIN_EMAIL, ['admin'])}; no account role)",
            f"  Member         {DEMO_MEMBER_EMAIL}  password: {self.password}"
            f"  ({self.utility_roles_of(DEMO_MEMBER_EMAIL, ['member'])}; a subscriber)",
            f"  Spectator      {DEMO_SPECTATOR_EMAIL}  password: {self.password}"
            f"  ({self.utility_roles_of(DEMO_SPECTATOR_EMAIL, ['spectator'])})",
            "  (passwords as seeded; a run on an existing database keeps any changed since)",
            "",
            "Get an API token:",
            f"  curl -X POST {BASE_URL}/api/v1/sessions/ \\",
            "    -H 'Content-Type: application/vnd.api+json' -H 'Accept: application/vnd.api+json' \\",
            f"    -d {shlex.quote(body)}",
            "",
            "then send it as: -H 'Authorization: Bearer <token>'",
        ]
        if self.new_streams:
            lines += ["", "Watch changes live (Server-Sent Events; each read token is shown this once):"]
            for email, stream, token in self.new_streams:
                url = f"{BASE_URL}/api/v1/event-streams/{stream.pk}/sse/?token={token}"
                lines += [f"  {email}:", f"    curl -N '{url}'"]
        self.stdout.write("\n".join(lines))


def permission_exists(name: str) -> bool:
    app_label, _, codename = name.partition(".")
    return Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists()
