"""Participant and registrant reports: every past instance of the chosen meetings, incrementally.

For each meeting: its past instances (``/past_meetings/{id}/instances``); per instance the
report rows (``/report/meetings/{uuid}/participants``: join/leave, duration, email). Zoom
leaves out instances with a single participant; those are filled from the dashboard
(``/metrics/meetings/{uuid}/participants?type=past``) where the account allows it and always
marked ``single_participant``, never silently missing. Registrants per meeting, every status.

Output (through a :class:`Sink`, a local folder or an S3 prefix), keyed so a data tool can
query by prefix::

    participants/meeting=<id>/date=<YYYY-MM-DD>/<instance>.csv|.json   raw rows per instance
    registrants/meeting=<id>/registrants.csv|.json
    runs/<run id>/attendance.csv   one row per participant per instance (first join, last leave,
                                   total minutes across rejoins, device/location where given)
    runs/<run id>/instances.csv    one row per instance (unique participants, total minutes)
    runs/<run id>/summary.json     meetings, instances, rows written, skipped, failed with reasons

A :class:`Manifest` remembers finished instances, so the next run skips them; instances too
recent for their report, or whose fetch failed, are left for the next run. A daily-limit 429
stops the run cleanly and records when to resume; a run near its time limit stops between
instances and says so (``summary.stopped``), so its caller can continue it.
"""


# Rooms: run.py (the engine: plan meetings, fetch instances, record, roll up), files.py (report files,
# sinks and the file manifest), pseudonymise.py (keyed hashes), request.py (which meetings to report on).
