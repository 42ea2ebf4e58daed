"""Encoding finished JSON:API documents: orjson, with DRF's rules for what it refuses."""

import json

import orjson
from rest_framework.utils.encoders import JSONEncoder

_encoder = JSONEncoder()


class Document:
    """A finished JSON:API document; the renderer only encodes it."""

    __slots__ = ("content",)

    def __init__(self, content):
        self.content = content


def _default(value):
    # Decimals, lazy strings, dates that reached the document unconverted: DRF's own rules.
    return _encoder.default(value)


def dumps(data) -> bytes:
    """orjson, falling back to the standard encoder for what orjson refuses (integers beyond
    64 bits, non-string keys)."""
    try:
        return orjson.dumps(data, default=_default)
    except TypeError:
        return json.dumps(data, cls=JSONEncoder, ensure_ascii=False, separators=(",", ":")).encode()
