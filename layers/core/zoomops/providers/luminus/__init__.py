"""LumiNUS (NUS' LMS) conferencing API: "Add meeting" creates a Zoom meeting in a module."""

from .client import LuminusClient, LuminusUnavailable
from .provider import LuminusManualChange, LuminusMeetings

__all__ = ["LuminusClient", "LuminusManualChange", "LuminusMeetings", "LuminusUnavailable"]
