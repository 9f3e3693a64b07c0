"""LTI Pro: request signing, the client, and the jobs that call it (bulk disassociate)."""

MAX_BATCH = 400  # Zoom documents at most 400 meetings per bulk LTI Pro call
