"""Zoom: S2S OAuth tokens (``tokens``), the one REST client with its rate limiter and paging
(``client``), and the jobs built on it (``reports``)."""
