"""Resource names in one place: the files bucket's prefixes, the secret naming scheme, and the local
stack's physical names. Handlers' settings, the local stack, the IAM harness and the template tests all
read them from here; template.yaml spells the same names (``tests/test_template.py`` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

# Object key prefixes in the files bucket.
INCOMING_PREFIX = "incoming/"  # a CSV to remove (bulk disassociate)
DRYRUN_PREFIX = "dryrun/"  # the same, planned only
PROCESSED_PREFIX = "processed/"  # sources after their run
REJECTED_PREFIX = "rejected/"  # sources refused as a whole
RESULTS_PREFIX = "results/"  # results/<file name>/<run id>/...
REPORTS_PREFIX = "reports/"  # participant and registrant reports
API_UPLOADS = "api/"  # <incoming|dryrun>/api/<job id>/<file>: uploads for jobs the API created
REPORT_UPLOADS = "reports/requests/"  # reports/requests/<job id>/import.csv: an LTI import CSV to report on
PROVISION_PREFIX = "provision/"  # a course-meetings CSV to provision (the provisioning state machine)
PROVISION_DRYRUN_PREFIX = "provision-dryrun/"  # the same, planned only
WORK_PREFIX = "work/"  # work/<job id>/...: a state machine's work items and parts (its steps' scratch space)
REMOVAL_PREFIXES = (INCOMING_PREFIX, DRYRUN_PREFIX)
PROVISION_PREFIXES = (PROVISION_PREFIX, PROVISION_DRYRUN_PREFIX)
SOURCE_PREFIXES = REMOVAL_PREFIXES + PROVISION_PREFIXES  # what the bucket notifies the intake queue of

# Zoom account secrets: <prefix><account>/credentials (the admin's) and <prefix><account>/token (the refresher's).
# The stack's prefix is "<stack name>/zoom/".
ZOOM_SECRET_PATH = "zoom/"


def zoom_credentials_secret(prefix: str, account: str) -> str:
    return f"{prefix}{account}/credentials"


def zoom_token_secret(prefix: str, account: str) -> str:
    return f"{prefix}{account}/token"


# The Cognito group whose members may use the console (its routes also need a valid JWT).
CONSOLE_ADMIN_GROUP = "zoomops-admins"
CONSOLE_API_PREFIX = "/console/api"

# Handler folder under functions/ -> the template's logical id of its function.
FUNCTIONS = {
    "disassociate": "DisassociateFunction",
    "token_refresh": "TokenRefreshFunction",
    "participant_report": "ParticipantReportFunction",
    "api": "ApiFunction",
    "removal_steps": "RemovalStepsFunction",
    "report_steps": "ReportStepsFunction",
    "provision_steps": "ProvisionStepsFunction",
}

# Long jobs on Step Functions: job kind -> the state machine's kind in its name (``<stack>-<kind>``) and the
# template's logical id.
MACHINES = {
    "disassociate": ("removal", "RemovalStateMachine"),
    "report": ("reports", "ReportStateMachine"),
    "provision": ("provisioning", "ProvisionStateMachine"),
}


def execution_name(job_id: str) -> str:
    """A job's execution name: the job id itself (Step Functions refuses a second execution of that name for
    90 days, so every entry point that starts a job's execution twice gets the first one)."""
    return job_id


@dataclass(frozen=True)
class StackNames:
    """Physical names of one stack's resources where zoomops chooses them (the local stack, and the
    template's own ``!Sub "${AWS::StackName}..."`` names)."""

    stack: str

    @property
    def bucket(self) -> str:
        return f"{self.stack}-files"

    @property
    def queue(self) -> str:
        return f"{self.stack}-disassociate"

    @property
    def dlq(self) -> str:
        return f"{self.stack}-disassociate-dlq"

    @property
    def jobs_table(self) -> str:
        return f"{self.stack}-jobs"

    @property
    def idempotency_table(self) -> str:
        return f"{self.stack}-idempotency"

    @property
    def manifest_table(self) -> str:
        return f"{self.stack}-manifest"

    @property
    def ledger_table(self) -> str:
        """Provisioning's ledger: what was created where (HASH pk, RANGE sk; TTL expires_at)."""
        return f"{self.stack}-ledger"

    def state_machine(self, kind: str) -> str:
        """A state machine's name: ``<stack>-removal``, ``<stack>-reports``, ``<stack>-provisioning``."""
        return f"{self.stack}-{kind}"

    @property
    def lti_secret(self) -> str:
        return f"{self.stack}/lti"

    @property
    def zoom_secret_prefix(self) -> str:
        return f"{self.stack}/{ZOOM_SECRET_PATH}"

    @property
    def webmeeting_secret(self) -> str:
        """Web Meeting v6: {"api_key"} (``zoomops credentials webmeeting``)."""
        return f"{self.stack}/webmeeting"

    @property
    def luminus_secret(self) -> str:
        """LumiNUS: {"subscription_key"[, "token"]} (``zoomops credentials luminus``)."""
        return f"{self.stack}/luminus"

    @property
    def pseudonym_secret(self) -> str:
        return f"{self.stack}/reports/pseudonym-key"

    def function(self, folder: str) -> str:
        """A function's name: ``<stack>-<folder with dashes>`` (the template names ParticipantReportFunction
        so; the others get the same name locally)."""
        return f"{self.stack}-{folder.replace('_', '-')}"


LOCAL = StackNames("zoomops-local")
