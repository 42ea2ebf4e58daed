"""Reads that are more than a filter."""

import hashlib
import io
from functools import lru_cache

from django.contrib.auth.models import Permission
from PIL import Image, ImageDraw

from accounts.models import Avatar, User


def global_permission_names(user: User) -> list[str]:
    """Sorted `app_label.codename` of every permission the user holds globally."""
    if not user.is_active:
        return []
    if user.is_superuser:
        return sorted(
            f"{app}.{codename}"
            for app, codename in Permission.objects.values_list("content_type__app_label", "codename")
        )
    return sorted(user.get_all_permissions())


def avatar_image(user: User) -> tuple[bytes, str]:
    """The user's uploaded avatar, or a generated one."""
    avatar = Avatar.objects.filter(user=user).only("image", "content_type").first()
    if avatar is not None:
        return bytes(avatar.image), avatar.content_type
    return default_avatar_png(user.pk), "image/png"


@lru_cache(maxsize=512)
def default_avatar_png(seed: int, size: int = 5, cell: int = 40) -> bytes:
    """A symmetric 5×5 identicon coloured from a hash of the user id."""
    digest = hashlib.sha256(f"roster-avatar-{seed}".encode()).digest()
    colour = (64 + digest[0] % 160, 64 + digest[1] % 160, 64 + digest[2] % 160)
    margin = cell // 2
    side = size * cell + 2 * margin
    image = Image.new("RGB", (side, side), (240, 240, 240))
    draw = ImageDraw.Draw(image)
    bits = int.from_bytes(digest[3:7], "big")
    half = (size + 1) // 2
    for row in range(size):
        for col in range(half):
            if bits >> (row * half + col) & 1:
                for x in {col, size - 1 - col}:
                    left, top = margin + x * cell, margin + row * cell
                    draw.rectangle([left, top, left + cell - 1, top + cell - 1], fill=colour)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
