"""The HTTP API's contract: request and answer models (which also make its OpenAPI description)."""
