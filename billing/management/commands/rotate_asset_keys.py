"""Re-encrypt every secret asset with the first key of DJANGO_ASSET_KEYS.

Rotating a key: put the new key first in DJANGO_ASSET_KEYS (keeping the old ones after it),
restart the servers, run this command, then drop the old keys. A row no configured key
decrypts stops the command with its id (never its content), after the rows before it."""

from django.core.management.base import BaseCommand, CommandError

from billing.crypto import SecretUnreadable
from billing.services import assets_rotate_keys


class Command(BaseCommand):
    help = "Re-encrypt every secret asset with the first key of DJANGO_ASSET_KEYS."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default 500)")

    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size is at least 1.")
        try:
            rotated, total = assets_rotate_keys(batch_size=batch_size)
        except SecretUnreadable as exc:
            raise CommandError(f"{exc} Put every key still in use in DJANGO_ASSET_KEYS, the new one first.") from None
        self.stdout.write(f"Re-encrypted {rotated} of {total} secret asset{'s' if total != 1 else ''} "
                          "with the first key.")
