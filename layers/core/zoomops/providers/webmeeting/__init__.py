"""Web Meeting API v6 (a white-label web meeting platform): organizer accounts and their meetings."""

from .client import WebMeetingClient, WebMeetingUnavailable
from .provider import WebMeetings

__all__ = ["WebMeetingClient", "WebMeetingUnavailable", "WebMeetings"]
