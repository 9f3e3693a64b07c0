"""Validated settings, read from the environment, and the Zoom account list they name.

Each handler builds its settings at import, so a missing or malformed variable fails the cold start (a
Lambda init error) with a message naming it; the core reads nothing at import. Tests construct them directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ConfigError
from .lti import MAX_BATCH
from .names import REPORTS_PREFIX, zoom_credentials_secret, zoom_token_secret

DEFAULT_OAUTH_URL = "https://zoom.us/oauth/token"
DEFAULT_MARGIN = 30 * 60  # refresh with half an hour left: the 10-minute schedule gets three chances


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required and is not set")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"environment variable {name} must be between {low} and {high}, got {value}")
    return value


def _url(env: Mapping[str, str], name: str) -> str:
    value = _required(env, name)
    if not value.startswith(("https://", "http://")):
        raise ConfigError(f"environment variable {name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _machine(env: Mapping[str, str], name: str) -> str:
    """A state machine's ARN (``arn:<partition>:states:<region>:<account>:stateMachine:<name>``)."""
    value = _required(env, name)
    parts = value.split(":")
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "states" or parts[5] != "stateMachine":
        raise ConfigError(f"environment variable {name} must be a state machine ARN, got {value!r}")
    return value


DEFAULT_INLINE_MAX_BYTES = 1_048_576  # ~12,000 rows: about 30 batches, a minute of sending in one invocation


@dataclass(frozen=True)
class DisassociateSettings:
    """The intake queue's function: removal files run here when small, on the removal state machine when
    large (or when a run reaches the time limit); provisioning files start the provisioning state machine."""

    lti_secret_id: str
    lti_base_url: str
    jobs_table: str
    idempotency_table: str
    removal_machine: str
    provision_machine: str
    batch_size: int = MAX_BATCH
    inline_max_bytes: int = DEFAULT_INLINE_MAX_BYTES  # a larger removal file goes to the state machine
    secret_max_age: int = 300  # seconds the LTI secret is cached per container
    idempotency_ttl: int = 3600

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DisassociateSettings:
        env = os.environ if env is None else env
        return cls(
            lti_secret_id=_required(env, "ZOOMOPS_LTI_SECRET_ID"),
            lti_base_url=_url(env, "ZOOMOPS_LTI_BASE_URL"),
            jobs_table=_required(env, "ZOOMOPS_JOBS_TABLE"),
            idempotency_table=_required(env, "ZOOMOPS_IDEMPOTENCY_TABLE"),
            removal_machine=_machine(env, "ZOOMOPS_REMOVAL_MACHINE"),
            provision_machine=_machine(env, "ZOOMOPS_PROVISION_MACHINE"),
            batch_size=_int(env, "ZOOMOPS_BATCH_SIZE", MAX_BATCH, 1, MAX_BATCH),
            inline_max_bytes=_int(env, "ZOOMOPS_INLINE_MAX_BYTES", DEFAULT_INLINE_MAX_BYTES, 0, 100 * 1_048_576),
        )


@dataclass(frozen=True)
class RemovalStepsSettings:
    """The removal state machine's steps: plan, send one batch, finalize. ``concurrency`` is the machine's
    MaxConcurrency; with ``requests_per_second`` it paces every child so that all of them together never
    send LTI Pro more than that many requests a second."""

    lti_secret_id: str
    lti_base_url: str
    jobs_table: str
    bucket: str
    concurrency: int = 4
    requests_per_second: int = 4
    secret_max_age: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RemovalStepsSettings:
        env = os.environ if env is None else env
        return cls(
            lti_secret_id=_required(env, "ZOOMOPS_LTI_SECRET_ID"),
            lti_base_url=_url(env, "ZOOMOPS_LTI_BASE_URL"),
            jobs_table=_required(env, "ZOOMOPS_JOBS_TABLE"),
            bucket=_required(env, "ZOOMOPS_FILES_BUCKET"),
            concurrency=_int(env, "ZOOMOPS_REMOVAL_CONCURRENCY", 4, 1, 1000),
            requests_per_second=_int(env, "ZOOMOPS_LTI_REQUESTS_PER_SECOND", 4, 1, 1000),
        )

    @property
    def seconds_per_request(self) -> float:
        """Each child holds its slot at least this long per request: concurrency / ceiling."""
        return self.concurrency / self.requests_per_second


@dataclass(frozen=True)
class CliLtiSettings:
    base_url: str
    key: str
    secret: str

    def __repr__(self) -> str:  # never the secret
        return f"CliLtiSettings(base_url={self.base_url!r}, key={self.key!r}, secret=***)"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CliLtiSettings:
        env = os.environ if env is None else env
        return cls(
            base_url=_url(env, "ZOOMOPS_LTI_BASE_URL"),
            key=_required(env, "ZOOMOPS_LTI_KEY"),
            secret=_required(env, "ZOOMOPS_LTI_SECRET"),
        )


@dataclass(frozen=True)
class ZoomAccountsSettings:
    """Which Zoom accounts, and where their secrets live."""

    account_names: str
    secret_prefix: str

    @property
    def accounts(self):
        return parse_accounts(self.account_names, self.secret_prefix)


@dataclass(frozen=True)
class TokenRefreshSettings(ZoomAccountsSettings):
    oauth_url: str = ""
    jobs_table: str = ""  # short leases, so two refreshers never ask Zoom at once
    margin: int = 1800

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TokenRefreshSettings:
        env = os.environ if env is None else env
        settings = cls(
            account_names=_required(env, "ZOOMOPS_ZOOM_ACCOUNTS"),
            secret_prefix=_required(env, "ZOOMOPS_ZOOM_SECRET_PREFIX"),
            oauth_url=_url(
                {"ZOOMOPS_ZOOM_OAUTH_URL": env.get("ZOOMOPS_ZOOM_OAUTH_URL") or DEFAULT_OAUTH_URL},
                "ZOOMOPS_ZOOM_OAUTH_URL",
            ),
            jobs_table=_required(env, "ZOOMOPS_JOBS_TABLE"),
            margin=_int(env, "ZOOMOPS_TOKEN_MARGIN_SECONDS", DEFAULT_MARGIN, 60, 3000),
        )
        _ = settings.accounts  # malformed names fail here, at cold start
        return settings


def _plan(env: Mapping[str, str]) -> str:
    """ZOOMOPS_ZOOM_PLAN: the Zoom account's rate-limit plan (pro, the default, or business)."""
    plan = (env.get("ZOOMOPS_ZOOM_PLAN") or "pro").strip().lower()
    if plan not in ("pro", "business"):
        raise ConfigError(f"environment variable ZOOMOPS_ZOOM_PLAN must be pro or business, got {plan!r}")
    return plan


@dataclass(frozen=True)
class ReportSettings(ZoomAccountsSettings):
    bucket: str = ""
    prefix: str = REPORTS_PREFIX
    manifest_table: str = ""
    lookback_days: int = 7  # the scheduled run looks at meetings of the last week
    users: str = ""  # comma-separated Zoom users (emails or ids); empty: every active user
    workers: int = 8
    plan: str = "pro"  # the account's rate-limit plan: pro | business
    pseudonym_secret_id: str = ""  # set: names and emails are stored as keyed hashes
    jobs_table: str = ""  # set: runs the API started report their progress there

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ReportSettings:
        env = os.environ if env is None else env
        plan = _plan(env)
        settings = cls(
            account_names=_required(env, "ZOOMOPS_ZOOM_ACCOUNTS"),
            secret_prefix=_required(env, "ZOOMOPS_ZOOM_SECRET_PREFIX"),
            bucket=_required(env, "ZOOMOPS_REPORTS_BUCKET"),
            prefix=(env.get("ZOOMOPS_REPORTS_PREFIX") or REPORTS_PREFIX).strip(),
            manifest_table=_required(env, "ZOOMOPS_MANIFEST_TABLE"),
            lookback_days=_int(env, "ZOOMOPS_REPORT_LOOKBACK_DAYS", 7, 1, 365),
            users=(env.get("ZOOMOPS_REPORT_USERS") or "").strip(),
            workers=_int(env, "ZOOMOPS_REPORT_WORKERS", 8, 1, 64),
            plan=plan,
            pseudonym_secret_id=(env.get("ZOOMOPS_PSEUDONYM_SECRET_ID") or "").strip(),
            jobs_table=(env.get("ZOOMOPS_JOBS_TABLE") or "").strip(),
        )
        _ = settings.accounts  # malformed names fail here, at cold start
        return settings


@dataclass(frozen=True)
class ParticipantReportSettings(ReportSettings):
    """The scheduled (and directly invoked) report: runs in one invocation, and hands a run that outgrows it
    (the time limit, a daily limit) to the report state machine."""

    report_machine: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ParticipantReportSettings:
        env = os.environ if env is None else env
        base = ReportSettings.from_env(env)
        return cls(**vars(base), report_machine=_machine(env, "ZOOMOPS_REPORT_MACHINE"))


@dataclass(frozen=True)
class ReportStepsSettings(ReportSettings):
    """The report state machine's steps. ``concurrency`` is the machine's MaxConcurrency: each child's rate
    limiter gets 1/concurrency of the account's rates, so all children together keep Zoom's."""

    concurrency: int = 4

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ReportStepsSettings:
        env = os.environ if env is None else env
        base = ReportSettings.from_env(env)
        if not base.jobs_table:
            raise ConfigError("environment variable ZOOMOPS_JOBS_TABLE is required and is not set")
        return cls(**vars(base), concurrency=_int(env, "ZOOMOPS_REPORT_CONCURRENCY", 4, 1, 1000))


@dataclass(frozen=True)
class ApiSettings(ZoomAccountsSettings):
    jobs_table: str = ""
    bucket: str = ""
    token_function: str = ""
    report_machine: str = ""
    provision_machine: str = ""

    @property
    def report_function(self) -> str:
        """What the routes hand ``runtime.invoker`` to run a report job: the report state machine (the api's
        invoker starts an execution named by the job id for a state machine ARN)."""
        return self.report_machine

    @property
    def machines(self) -> dict[str, str]:
        """The state machines the api starts, by job kind (removals start from the bucket, never here)."""
        return {"report": self.report_machine, "provision": self.provision_machine}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiSettings:
        env = os.environ if env is None else env
        settings = cls(
            account_names=_required(env, "ZOOMOPS_ZOOM_ACCOUNTS"),
            secret_prefix=_required(env, "ZOOMOPS_ZOOM_SECRET_PREFIX"),
            jobs_table=_required(env, "ZOOMOPS_JOBS_TABLE"),
            bucket=_required(env, "ZOOMOPS_FILES_BUCKET"),
            token_function=_required(env, "ZOOMOPS_TOKEN_REFRESH_FUNCTION"),
            report_machine=_machine(env, "ZOOMOPS_REPORT_MACHINE"),
            provision_machine=_machine(env, "ZOOMOPS_PROVISION_MACHINE"),
        )
        _ = settings.accounts  # malformed names fail here, at cold start
        return settings


def _optional_url(env: Mapping[str, str], name: str) -> str:
    return _url(env, name) if env.get(name, "").strip() else ""


@dataclass(frozen=True)
class ProvisionStepsSettings(ZoomAccountsSettings):
    """The provisioning state machine's steps: the files bucket, the jobs table and the ledger, and every
    platform a course meeting may be provisioned on (Zoom, LTI Pro, Web Meeting v6, LumiNUS; the last two
    optional: an empty URL means not used)."""

    bucket: str = ""
    jobs_table: str = ""
    ledger_table: str = ""
    lti_base_url: str = ""
    lti_secret_id: str = ""
    webmeeting_url: str = ""
    webmeeting_secret_id: str = ""
    luminus_url: str = ""
    luminus_secret_id: str = ""
    secret_max_age: int = 300  # seconds the LTI secret is cached per container
    plan: str = "pro"  # the Zoom account's rate-limit plan: pro | business (each part gets its share)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProvisionStepsSettings:
        env = os.environ if env is None else env
        settings = cls(
            account_names=_required(env, "ZOOMOPS_ZOOM_ACCOUNTS"),
            secret_prefix=_required(env, "ZOOMOPS_ZOOM_SECRET_PREFIX"),
            bucket=_required(env, "ZOOMOPS_BUCKET"),
            jobs_table=_required(env, "ZOOMOPS_JOBS_TABLE"),
            ledger_table=_required(env, "ZOOMOPS_LEDGER_TABLE"),
            lti_base_url=_url(env, "ZOOMOPS_LTI_BASE_URL"),
            lti_secret_id=_required(env, "ZOOMOPS_LTI_SECRET_ID"),
            webmeeting_url=_optional_url(env, "ZOOMOPS_WEBMEETING_URL"),
            webmeeting_secret_id=_required(env, "ZOOMOPS_WEBMEETING_SECRET_ID"),
            luminus_url=_optional_url(env, "ZOOMOPS_LUMINUS_URL"),
            luminus_secret_id=_required(env, "ZOOMOPS_LUMINUS_SECRET_ID"),
            plan=_plan(env),
        )
        _ = settings.accounts  # malformed names fail here, at cold start
        return settings


@dataclass(frozen=True)
class ZoomAccount:
    name: str
    credentials_secret: str
    token_secret: str


def parse_accounts(names: str, secret_prefix: str) -> list[ZoomAccount]:
    """Accounts from a comma-separated list of names; each has two secrets under the prefix:
    ``<prefix><name>/credentials`` and ``<prefix><name>/token``."""
    accounts, seen = [], set()
    for name in (part.strip() for part in names.split(",")):
        if not name:
            continue
        if not all((ch.isascii() and ch.isalnum()) or ch in "-_" for ch in name):
            raise ConfigError(f"ZOOMOPS_ZOOM_ACCOUNTS: account name {name!r} may hold only letters, digits, - and _")
        if name in seen:
            raise ConfigError(f"ZOOMOPS_ZOOM_ACCOUNTS: account name {name!r} appears twice")
        seen.add(name)
        accounts.append(
            ZoomAccount(name, zoom_credentials_secret(secret_prefix, name), zoom_token_secret(secret_prefix, name))
        )
    if not accounts:
        raise ConfigError("ZOOMOPS_ZOOM_ACCOUNTS must name at least one Zoom account (comma-separated)")
    return accounts
