"""Fill an empty database with a large data set for the benchmark (bulk inserts, no services:
speed matters here, and the rows are the same rows the services would write)."""

import json
import random
import secrets
import time
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account, AccountMembership, AuditLogEntry, Session, User, hash_token
from billing.models import Charge, Merchant, Product, ProductType, coin, coin_sum
from billing.periods import period_before, period_containing
from memberships.models import Membership, Utility

BATCH = 5000


class Command(BaseCommand):
    help = "Seed a large data set for `make bench` and print bearer tokens as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=100)
        parser.add_argument("--utilities", type=int, default=1000)
        parser.add_argument("--users", type=int, default=10000)
        parser.add_argument("--memberships", type=int, default=100000)
        parser.add_argument("--audit", type=int, default=1000000)
        parser.add_argument("--charges", type=int, default=None,
                            help="charges in the ledger (default: as many as audit entries)")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--analyze-only", action="store_true",
                            help="only refresh the planner statistics of an already seeded database")
        parser.add_argument("--post-pool", type=int, metavar="REQUESTS",
                            help="only make room for REQUESTS membership POSTs per side in an already seeded "
                                 "database (see _post_pool) and print it as JSON")
        parser.add_argument("--account", type=int, help="with --post-pool: the account whose admin POSTs")

    def handle(self, *args, **opts):
        if opts["analyze_only"]:
            return self._analyze()
        if opts["post_pool"] is not None:
            return self.stdout.write(json.dumps(self._post_pool(opts["account"], opts["post_pool"])))
        if opts["charges"] is None:
            opts["charges"] = opts["audit"]
        rng = random.Random(opts["seed"])
        started = time.monotonic()
        now = timezone.now()
        with transaction.atomic():
            password = make_password("bench-password")
            accounts = Account.objects.bulk_create(
                [Account(name=f"Bench account {n:04d}") for n in range(opts["accounts"])], batch_size=BATCH)
            utilities = Utility.objects.bulk_create(
                [Utility(account=accounts[n % len(accounts)], name=f"Utility {n:05d}", billing_day=1 + n % 28)
                 for n in range(opts["utilities"])], batch_size=BATCH)
            users = User.objects.bulk_create(
                [User(email=f"user{n:06d}@bench.example", username=f"user{n:06d}", password=password,
                      first_name="Bench", last_name=f"User {n}") for n in range(opts["users"])], batch_size=BATCH)
            admin = User.objects.create(email="bench-admin@bench.example", username="bench-admin",
                                        password=password, is_superuser=True, is_staff=True)
            member = User.objects.create(email="bench-member@bench.example", username="bench-member",
                                         password=password)
            pairs = set()
            member_utilities = utilities[: max(1, min(20, len(utilities)))]
            rows = [Membership(user=member, utility=u, role="leader", is_subscriber=False)
                    for u in member_utilities]
            pairs.update((member.pk, u.pk) for u in member_utilities)
            roles = ["spectator", "member", "leader", "admin"]
            while len(rows) < opts["memberships"] and len(pairs) < len(users) * len(utilities):
                user, utility = rng.choice(users), rng.choice(utilities)
                if (user.pk, utility.pk) in pairs:
                    continue
                pairs.add((user.pk, utility.pk))
                rows.append(Membership(user=user, utility=utility, role=rng.choice(roles),
                                       is_subscriber=rng.random() < 0.3))
            Membership.objects.bulk_create(rows, batch_size=BATCH)
            AccountMembership.objects.bulk_create(
                [AccountMembership(account=a, user=users[n % len(users)], role="admin")
                 for n, a in enumerate(accounts)],
                batch_size=BATCH)
            self._audit(rng, opts["audit"], accounts, users, now)
            billing = self._billing(rng, opts["charges"], utilities, now)
            # users[0] is the admin of accounts[0], the account of the busy utility
            tokens = {}
            for name, user in (("admin", admin), ("member", member), ("account_admin", users[0])):
                token = secrets.token_urlsafe(32)
                Session.objects.create(user=user, key_hash=hash_token(token), expires_at=now + timedelta(days=1),
                                       absolute_expires_at=now + timedelta(days=2))
                tokens[name] = token
        self._analyze()
        deep_account = accounts[0].pk
        membership = Membership.objects.filter(user=member).order_by("id").first()
        self.stdout.write(json.dumps({
            "tokens": tokens, "account": deep_account, "membership": membership.pk, **billing,
            "seconds": round(time.monotonic() - started, 1),
            "sizes": {k: opts[k] for k in ("accounts", "utilities", "users", "memberships", "audit", "charges")},
        }))

    @staticmethod
    def _analyze():
        """Planner statistics, as a production database keeps them (PostgreSQL's autovacuum
        analyses tables by itself; SQLite only when asked). Without them SQLite guesses, and
        guesses badly for `IN (subquery)` next to an equality on the same column."""
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    @staticmethod
    def _post_pool(account_id, requests):
        """Room for `requests` membership POSTs by the account's admin on each side (our API, the
        ceiling), every one a new (user, utility) pair: the people that admin may add (as the API
        answers `addable_by`) and, per side, enough new empty utilities of the account that each
        pair is used once (request i: user i mod U, utility i div U). Each side its own utilities,
        so the two never collide; made afresh on every run, so a kept database has room too."""
        admin = AccountMembership.objects.filter(account_id=account_id, role="admin").order_by("pk").first().user
        users = list(User.objects.addable_by(admin, "memberships.add_membership").order_by("pk")
                     .values_list("pk", flat=True)[:5000])
        per_side = -(-requests // len(users))
        stamp = f"{time.time_ns():x}"
        with transaction.atomic():
            made = Utility.objects.bulk_create(
                [Utility(account_id=account_id, name=f"Bench POST {side} {stamp} {n:04d}", billing_day=1)
                 for side in ("api", "ceiling") for n in range(per_side)], batch_size=BATCH)
        ids = [utility.pk for utility in made]
        return {"api": {"users": users, "utilities": ids[:per_side]},
                "ceiling": {"users": users, "utilities": ids[per_side:]}}

    def _audit(self, rng, total, accounts, users, now):
        """A fifth of the entries belong to the first account, so its history has deep pages."""
        content_type = ContentType.objects.get_for_model(Membership)
        batch = []
        for n in range(total):
            account = accounts[0] if n % 5 == 0 else rng.choice(accounts)
            batch.append(AuditLogEntry(
                content_type=content_type, object_pk=str(n), object_id=n, object_repr=f"Membership {n}",
                action=1, changes={"is_subscriber": [False, True]}, actor_id=rng.choice(users).pk,
                remote_addr="127.0.0.1", timestamp=now - timedelta(seconds=total - n), account_id=account.pk))
            if len(batch) >= BATCH:
                AuditLogEntry.objects.bulk_create(batch)
                batch = []
        AuditLogEntry.objects.bulk_create(batch)

    def _billing(self, rng, total, utilities, now):
        """Products of both types in the busy utility (the first: its account's admin is
        users[0]) and one in every other utility; the ledger's charges, nine in ten in the
        busy utility's current billing period (so its list and `meta.total` sum many rows),
        the rest spread over the other utilities and the three periods before. One busy
        product is left 10 coins below its limit, for the charge POSTs. No audit entries:
        the seeded rows are the rows `charge_create` would insert."""
        tier = ProductType.objects.get(code="DATA_MANAGER_PROJECT_TIER_SUBSCRIPTION")
        storage = ProductType.objects.get(code="DATA_MANAGER_STORAGE_SUBSCRIPTION")
        merchant = Merchant.objects.create(name="Bench data manager", kind="DATA_MANAGER",
                                           url="https://dm.bench.example")
        busy = utilities[0]
        flavours = list(tier.fixed_allowances)

        def product(utility, n):
            if n % 2:
                fixed = tier.fixed_allowances[flavours[n % len(flavours)]]
                return Product(utility=utility, product_type=tier, name=f"Project {n:05d}",
                               flavour=flavours[n % len(flavours)], allowance=fixed["allowance"],
                               limit=fixed["limit"])
            return Product(utility=utility, product_type=storage, name=f"Storage {n:05d}", allowance=1000,
                           limit=rng.choice([0, 100000, 10000000]))

        busy_products = Product.objects.bulk_create([product(busy, n) for n in range(100)], batch_size=BATCH)
        other_products = Product.objects.bulk_create(
            [product(u, n) for n, u in enumerate(utilities[1:], start=100)], batch_size=BATCH) or busy_products
        near = busy_products[0]  # a storage product
        periods = {}

        def period(utility, pbp):
            key = (utility.billing_day, pbp)
            if key not in periods:
                periods[key] = period_before(period_containing(utility.billing_day, now), pbp)
            return periods[key]

        kinds = list(Charge.Kind.values)
        by_pk = {u.pk: u for u in utilities}
        batch = []
        for n in range(total):
            if n % 10:
                item, pbp = busy_products[n % len(busy_products)], 0
            else:
                item, pbp = rng.choice(other_products), rng.randrange(4)
            utility = by_pk[item.utility_id]
            span = period(utility, pbp)
            start = span.starts_at
            end = min(span.ends_at, now)
            charged_at = start + (end - start) * rng.random()
            batch.append(Charge(
                product=item, utility_id=item.utility_id, merchant=merchant, kind=kinds[n % 2],
                amount=Decimal(rng.randint(1, 10000)) / 100, description=f"Bench charge {n}",
                additional_data={"job": n}, charged_at=charged_at, billing_period_start=span.start,
                billing_period_end=span.end, created=charged_at))
            if len(batch) >= BATCH:
                Charge.objects.bulk_create(batch)
                batch = []
        Charge.objects.bulk_create(batch)
        used = coin(Charge.objects.filter(product=near, billing_period_start=period(busy, 0).start)
                    .aggregate(total=coin_sum())["total"])
        limit = int(used) + 10
        Product.objects.filter(pk=near.pk).update(allowance=limit, limit=limit)
        return {"busy_utility": busy.pk, "near_product": near.pk}
