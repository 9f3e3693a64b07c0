"""LTI Pro request signing and bodies.

Signature (LTI Pro reference + Zoom's docs): the query parameters as ``name=value`` joined by ``&`` in
alphabetical order of name, HMAC-SHA1 with the LTI secret, URL-safe base64 without ``=`` padding, in
``X-Lti-Signature``. A request is signed when it is sent, and again for every retry, so a slow retry never
carries a stale timestamp.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any
from urllib.parse import urlencode

BULK_DISASSOCIATE_PATH = "/meeting/bulkDisassociate"


def signature(params: dict[str, str], secret: str) -> str:
    base = "&".join(f"{name}={params[name]}" for name in sorted(params))
    digest = hmac.new(secret.encode(), base.encode(), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class LtiCredentials:
    key: str
    secret: str = field(repr=False)
    base_url: str

    def __post_init__(self) -> None:
        for name in ("key", "secret", "base_url"):
            if not getattr(self, name):
                raise ValueError(f"LTI credentials: {name} is empty")


def encode_body(items: list[dict[str, str]], user_id: str | None) -> bytes:
    body: Any = {"userId": user_id, "meetingList": items} if user_id else items
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


ITEM_JSON = '{{"meetingId":"{}","contextId":{},"domain":{},"courseId":{}}}'.format
_ITEM_JSON_PLAIN = '{{"meetingId":"{}","contextId":"{}","domain":"{}","courseId":"{}"}}'.format
_NO_COURSE = ',"courseId":""'  # cannot occur inside an encoded string: its quotes are escaped


def _json_plain(text: str) -> bool:
    """True when JSON needs no escape inside ``text`` (printable, no quote or backslash)."""
    return text.isprintable() and '"' not in text and "\\" not in text


def encode_item_columns(meetings: list[str], contexts: list[str], domains: list[str], courses: list[str]) -> list[str]:
    """Each row's item as JSON text (``ITEM_JSON``); meeting IDs must be digits already."""
    if all(_json_plain("".join(column)) for column in (contexts, domains, courses)):
        return list(map(_ITEM_JSON_PLAIN, meetings, contexts, domains, courses))
    quote = encode_basestring
    return list(map(ITEM_JSON, meetings, map(quote, contexts), map(quote, domains), map(quote, courses)))


def encode_items(items: list[str], user_id: str | None) -> bytes:
    """The body for items already encoded with ``ITEM_JSON``: the same bytes as ``encode_body``."""
    body = ("[" + ",".join(items) + "]").replace(_NO_COURSE, "")
    if user_id:
        body = '{"userId":' + encode_basestring(user_id) + ',"meetingList":' + body + "}"
    return body.encode()


@dataclass(slots=True)
class SignedCall:
    method: str
    url: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def as_record(self, batch: int) -> str:
        """One ``requests.jsonl`` line: everything sent, never the secret."""
        head = json.dumps(
            {"batch": batch, "method": self.method, "url": self.url, "query": self.query, "headers": self.headers},
            separators=(",", ":"),
        )
        return f'{head[:-1]},"body":{self.body.decode()}}}\n'


def sign_call(
    creds: LtiCredentials,
    body: bytes,
    now: float,
    *,
    user_id: str | None = None,
    method: str = "PUT",
    path: str = BULK_DISASSOCIATE_PATH,
) -> SignedCall:
    """The call, signed now. With the admin ``user_id`` (the ``{userId, meetingList}`` body form), userId is a
    signed query parameter as well, as Zoom's LTI Pro API articles require (``key=…&timestamp=…&userId=…``)."""
    query = {"key": creds.key, "timestamp": str(int(now * 1000))}
    if user_id:
        query["userId"] = user_id
    headers = {"Content-Type": "application/json", "X-Lti-Signature": signature(query, creds.secret)}
    url = f"{creds.base_url.rstrip('/')}{path}?{urlencode(query)}"
    return SignedCall(method, url, query, headers, body)
