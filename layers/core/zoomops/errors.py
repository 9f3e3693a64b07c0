"""One hierarchy for every error a user can cause or meet.

Each class says what the CLI exits with and what the API answers, so both map errors in one
place (``zoomops.cli.common.fail`` and the api function's exception handler) instead of catching
built-in exceptions broadly. Messages name what is wrong (file, line, field, variable, account,
host) and never carry a secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: importing this module stays cheap for a cold start
    from datetime import datetime

# Exit statuses, the same for every command.
EXIT_OK = 0  # done: every row accounted for, none failed
EXIT_FAILED = 1  # done, but some rows or items failed (the re-drive file has them)
EXIT_REFUSED = 2  # the input or the usage was refused: nothing was done
EXIT_STOPPED = 3  # stopped early (daily limit, interrupted): run the same command again to resume
EXIT_UNAVAILABLE = 4  # credentials, AWS or the network failed


class ZoomopsError(Exception):
    """Base of every error zoomops raises on purpose."""

    exit_status = EXIT_UNAVAILABLE
    http_status = 500
    title = "internal error"


class ConfigError(ZoomopsError):
    """A setting is missing or malformed; the message names it. For a Lambda function, an init error."""

    exit_status = EXIT_REFUSED
    title = "misconfigured"


class Refused(ZoomopsError, ValueError):
    """Input the user can fix (a field, an option, a request): nothing was done."""

    exit_status = EXIT_REFUSED
    http_status = 422
    title = "request refused"


class Conflict(Refused):
    """The request is well formed but the job's state does not allow it (confirm an unfinished run)."""

    http_status = 409
    title = "conflict"


class FileRefused(Refused):
    """The file as a whole cannot be processed (empty, binary, no usable header)."""

    title = "file refused"

    def __init__(self, reason: str, *, line: int | None = None):
        super().__init__(reason if line is None else f"line {line}: {reason}")
        self.reason = reason
        self.line = line


class NotFound(ZoomopsError):
    """What was asked for does not exist (a job id). Deliberately not a LookupError: a stray KeyError
    is a bug, never a 404."""

    exit_status = EXIT_REFUSED
    http_status = 404
    title = "not found"


class Stopped(ZoomopsError):
    """Stopped early on purpose; the work resumes later without repeating what was accepted."""

    exit_status = EXIT_STOPPED
    http_status = 503
    title = "stopped early"
    resume_after: datetime | None = None


class OutOfTime(Stopped):
    """Too little time left before the next batch; the run resumes from its checkpoint."""


class Unavailable(ZoomopsError):
    """A service (Zoom, LTI Pro, AWS) or the credentials for it failed."""

    exit_status = EXIT_UNAVAILABLE
    http_status = 502
    title = "service unavailable"


class ZoomError(Unavailable):
    def __init__(self, status: int | None, message: str, code: object = None):
        super().__init__(f"Zoom API {status}: {message}" + (f" (code {code})" if code is not None else ""))
        self.status, self.code, self.message = status, code, message


class TokenUnavailable(Unavailable):
    """No usable Zoom token is stored for the account: nothing can be asked of Zoom until a refresh."""


class DailyLimitReached(Stopped, ZoomError):
    """The account's daily quota for a category is spent: stop and resume at ``resume_after``."""

    resume_after: datetime

    def __init__(self, category: str, resume_after: datetime, *, per_user: bool = False):
        ZoomError.__init__(
            self,
            429,
            f"daily rate limit reached for {category} requests; resume after "
            f"{resume_after.isoformat(timespec='seconds')}",
        )
        self.category, self.resume_after = category, resume_after
        self.per_user = per_user  # the cap of one user (Zoom: 100 meeting creates/updates a day), not the account's


class OAuthError(Unavailable):
    """Zoom refused or failed the token request; the message names the account, never a secret."""

    def __init__(self, account: str, message: str, *, credentials_rejected: bool = False):
        super().__init__(f"Zoom account {account}: {message}")
        self.account, self.credentials_rejected = account, credentials_rejected


class StoreError(Unavailable):
    """Secrets Manager refused or failed a write: the message names the secret, never a value."""


def caught_message(error: dict) -> str:
    """The message of an error a state machine's Catch passes on: the Lambda error document's
    ``errorType: errorMessage``, else the error's name (and cause)."""
    import json

    cause = error.get("Cause") or ""
    try:
        document = json.loads(cause)
    except ValueError:
        document = None
    if isinstance(document, dict) and document.get("errorMessage"):
        return f"{document.get('errorType') or error.get('Error')}: {document['errorMessage']}"
    return f"{error.get('Error') or 'failed'}: {cause}".rstrip(": ")
