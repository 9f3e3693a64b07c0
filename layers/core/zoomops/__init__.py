"""zoomops: Zoom / LTI Pro chores for campus IT, as plain Python (the Lambda layer's core)."""

__version__ = "0.1.0"
