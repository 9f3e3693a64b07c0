"""Per-participant roll-up of an instance's report rows: first join, last leave, total minutes."""

from __future__ import annotations

from datetime import datetime


def parse_time(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def rollup(instance: dict, rows: list[dict], single: bool) -> list[dict]:
    """One row per participant: first join, last leave, total minutes across rejoins."""
    people: dict[str, dict] = {}
    for row in rows:
        # The same person across rejoins: Zoom's per-user id when signed in, else email, else name;
        # ``user_id`` and ``id`` change with every join, so they come last.
        who = (
            row.get("participant_user_id")
            or row.get("user_email")
            or row.get("email")
            or row.get("name")
            or row.get("user_name")
            or row.get("user_id")
            or row.get("id")
            or "?"
        )
        join, leave = row.get("join_time") or "", row.get("leave_time") or ""
        seconds = float(row.get("duration") or 0)
        if not seconds and join and leave:  # the dashboard rows carry no duration
            seconds = max(0.0, (parse_time(leave) - parse_time(join)).total_seconds())
        person = people.get(who)
        if person is None:
            person = people[who] = {
                "meeting_id": instance["meeting_id"],
                "instance_uuid": instance["uuid"],
                "start_time": instance["start_time"],
                "participant": who,
                "name": row.get("name") or row.get("user_name") or "",
                "email": row.get("user_email") or row.get("email") or "",
                "first_join": join,
                "last_leave": leave,
                "total_minutes": 0.0,
                "sessions": 0,
                "device": row.get("device", ""),
                "location": row.get("location", ""),
                "single_participant": single,
            }
        person["first_join"] = min(filter(None, (person["first_join"], join)), default="")
        person["last_leave"] = max(filter(None, (person["last_leave"], leave)), default="")
        person["total_minutes"] = round(person["total_minutes"] + seconds / 60, 2)
        person["sessions"] += 1
    return list(people.values())
