"""Stream entries: ``{type, v, body}`` where ``body`` is msgpack of one message. Never pickle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import msgspec

from services.common.schema import TYPES, WIRE_NAMES, Message

_encoder = msgspec.msgpack.Encoder()
_decoders = {name: msgspec.msgpack.Decoder(cls) for name, (cls, _) in TYPES.items()}


class SchemaError(ValueError):
    """An entry that is not a valid message of a known type and version."""


def encode(message: Message) -> dict[Any, Any]:
    """Encode a message into the fields of one stream entry."""
    name = WIRE_NAMES[type(message)]
    return {"type": name.encode(), "v": str(TYPES[name][1]).encode(), "body": _encoder.encode(message)}


def _text(fields: Mapping[Any, Any], key: str) -> str:
    raw = fields.get(key.encode(), fields.get(key))
    if raw is None:
        raise SchemaError(f"entry has no {key!r} field")
    try:
        return raw.decode() if isinstance(raw, bytes) else str(raw)
    except UnicodeDecodeError:
        raise SchemaError(f"entry field {key!r} is not UTF-8 text: {raw!r}") from None


def decode(fields: Mapping[Any, Any]) -> Message:
    """Decode the fields of a stream entry.

    Raises :class:`SchemaError` for an unknown type, an unsupported version, a body that is not
    msgpack, or a body missing a required field or holding a field of the wrong type.
    """
    name = _text(fields, "type")
    if name not in TYPES:
        raise SchemaError(f"unknown message type {name!r}")
    version_text = _text(fields, "v")
    current = TYPES[name][1]
    if not (version_text.isascii() and version_text.isdigit()) or not 1 <= int(version_text) <= current:
        raise SchemaError(f"unsupported version {version_text!r} of {name!r} (this build reads 1..{current})")
    body = fields.get(b"body", fields.get("body"))
    if not isinstance(body, bytes):
        raise SchemaError(f"{name!r} entry has no binary body")
    try:
        message = cast(Message, _decoders[name].decode(body))
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise SchemaError(f"bad {name!r} body: {exc}") from exc
    return message
