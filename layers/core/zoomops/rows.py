"""Row rules for bulk disassociate: validation and de-duplication.

Every record ends in exactly one of these states: ``valid`` (to be sent),
``rejected`` (with the field and the reason) or ``duplicate`` (with the line
that already carries the same meeting, context and domain).
"""

from __future__ import annotations

from .csvinput import Record

MIN_MEETING_DIGITS = 9
MAX_MEETING_DIGITS = 11
_UNDECODABLE = "\ufffd"
_SEPARATORS = str.maketrans("", "", " -\u00a0\t")


def check(record: Record) -> tuple[str, str, str] | str:
    """The normalised (meeting_id, context_id, domain), or the reason the row is rejected."""
    raw_meeting = record.meeting_id.strip()
    if not raw_meeting:
        return "meeting_id: required"
    meeting = raw_meeting.translate(_SEPARATORS)
    if not (meeting.isascii() and meeting.isdigit()):
        return f"meeting_id: must be digits (spaces and dashes allowed), got {raw_meeting!r}"
    if not MIN_MEETING_DIGITS <= len(meeting) <= MAX_MEETING_DIGITS:
        return (
            f"meeting_id: must have {MIN_MEETING_DIGITS}-{MAX_MEETING_DIGITS} digits, "
            f"got {len(meeting)} in {raw_meeting!r}"
        )
    context = record.context_id.strip()
    if not context:
        return "context_id: required"
    domain = record.domain.strip().rstrip("/")
    if not domain:
        return "domain: required"
    if _UNDECODABLE in context or _UNDECODABLE in domain or _UNDECODABLE in record.course_id:
        field = "context_id" if _UNDECODABLE in context else "domain" if _UNDECODABLE in domain else "course_id"
        return f"{field}: holds bytes that are not text in any encoding Excel saves (shown as \ufffd)"
    return meeting, context, domain


class Deduplicator:
    """Remembers the first line of each (meeting, context, domain), compactly.

    A million distinct rows must fit well under the memory budget, so the key is
    one exact integer: the meeting number and its length, shifted past an interned
    index of the (context, domain) pair, which repeats across a course's meetings.
    """

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, str], int] = {}
        self._first_line: dict[int, int] = {}

    def first_line(self, meeting: str, context: str, domain: str, line: int) -> int | None:
        """None the first time a key is seen (and remember ``line``), else the first line."""
        pairs = self._pairs
        pair = pairs.get((context, domain))
        if pair is None:
            pair = pairs[(context, domain)] = len(pairs)
        # 11 digits < 2**37; the length keeps "0123456789" apart from "123456789".
        key = (((pair << 4) | len(meeting)) << 37) | int(meeting)
        seen = self._first_line.setdefault(key, line)
        return None if seen == line else seen
