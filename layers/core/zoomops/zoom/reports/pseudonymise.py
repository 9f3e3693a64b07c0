"""Keyed hashes of names, emails and ids, for deployments that must not store them."""

from __future__ import annotations

import hashlib
import hmac

from ...errors import Refused

_PERSONAL = ("name", "user_email", "email", "user_name", "first_name", "last_name")
# When pseudonymising, a row keeps only these: identities as keyed hashes (the same person stays one
# person across instances) and the fields that say nothing about who someone is. Anything else (a
# registrant's join_url, which carries a personal join token; addresses, phones, custom answers; the
# dashboard's IP and machine ids; "leave_reason", which names the person) is left out, including any
# field Zoom adds later.
_HASHED = frozenset((*_PERSONAL, "id", "user_id", "participant_user_id", "registrant_id"))
_PLAIN = frozenset(
    (
        "join_time",
        "leave_time",
        "duration",
        "status",
        "failover",
        "create_time",
        "role",
        "bo_mtg_id",
        "device",
        "network_type",
        "microphone",
        "speaker",
        "camera",
        "data_center",
        "full_data_center",
        "connection_type",
        "share_application",
        "share_desktop",
        "share_whiteboard",
        "recording",
        "version",
        "audio_quality",
        "video_quality",
        "screen_share_quality",
        "in_room_participants",
    )
)


class Pseudonymiser:
    """Keyed hash of names, emails and user ids, for deployments that must not store them; of the other
    fields only those that identify no one are kept (``_PLAIN``)."""

    def __init__(self, key: bytes):
        if len(key) < 16:
            raise Refused("the pseudonymisation key must be at least 16 bytes")
        self._key = key

    def __call__(self, value: str, *, fold: bool = True) -> str:
        """``fold``: names and emails match whatever their case and spacing; ids are taken as they are."""
        if not value:
            return value
        digest = hmac.new(self._key, (value.strip().lower() if fold else value).encode(), hashlib.sha256).hexdigest()
        return f"p_{digest[:20]}"

    def rows(self, rows: list[dict]) -> list[dict]:
        return [
            {
                k: self(v, fold=k in _PERSONAL) if k in _HASHED and isinstance(v, str) else v
                for k, v in row.items()
                if k in _HASHED or k in _PLAIN
            }
            for row in rows
        ]
