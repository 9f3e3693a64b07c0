"""Provisioning: a course-meetings CSV becomes meetings on a conferencing platform (Zoom, Web Meeting v6,
LumiNUS), tied to their LMS courses through LTI Pro, idempotently and across days when daily caps bite.
``spec`` is what the job asks of a platform adapter."""
