"""Each function's configuration, both ways: the template sets every variable the code reads, and a
missing or malformed variable fails the cold start (the handler's import) with a message naming it.

The variables "the code reads" are recorded, not listed: each handler's settings class reads the
local stack's environment for that function through a mapping that notes every name looked up.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from infra.local import iam
from infra.local.stack import LocalStack, load_handler
from zoomops.errors import ConfigError

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
FUNCTIONS = {logical_id: folder for folder, logical_id in iam.FUNCTIONS.items()}  # logical id -> functions/<folder>
# Values the code must refuse, per variable it validates (beyond "required and not set").
MALFORMED = {
    "ZOOMOPS_LTI_BASE_URL": ["lti.example.edu/api", "ftp://lti.example.edu"],
    "ZOOMOPS_DISASSOCIATE_QUEUE_URL": ["zoomops-queue"],
    "ZOOMOPS_BATCH_SIZE": ["four hundred", "0", "401", "2.5"],
    "ZOOMOPS_ZOOM_ACCOUNTS": ["main,bad name", "main,main", " , "],
    "ZOOMOPS_ZOOM_OAUTH_URL": ["zoom.us/oauth/token"],
    "ZOOMOPS_TOKEN_MARGIN_SECONDS": ["soon", "59", "3001"],
    "ZOOMOPS_ZOOM_PLAN": ["enterprise"],
    "ZOOMOPS_REPORT_LOOKBACK_DAYS": ["a week", "0", "366"],
    "ZOOMOPS_REPORT_WORKERS": ["many", "0", "65"],
}


class RecordingEnv(Mapping):
    """An environment that remembers which names were looked up."""

    def __init__(self, values: dict[str, str]):
        self.values, self.read = values, set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        self.read.add(name)
        return self.values.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE))


def template_variables(template: dict[str, Any], function: str) -> dict[str, Any]:
    """What SAM sets: Globals.Function's variables, then the function's own."""
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    own = template["Resources"][function]["Properties"]["Environment"]["Variables"]
    return {**shared, **own}


@pytest.fixture
def cold(stack: LocalStack, monkeypatch):
    """Import a handler as a cold start does, with exactly the given ZOOMOPS_* variables."""

    def start(folder: str, env: dict[str, str]):
        for name in [n for n in os.environ if n.startswith("ZOOMOPS_")]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return load_handler(folder)

    return start


def local_env(stack: LocalStack, folder: str) -> dict[str, str]:
    return {k: v for k, v in stack.function_env(folder).items() if k.startswith("ZOOMOPS_")}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_template_sets_every_variable_the_function_reads_and_no_other(stack, template, cold, function):
    folder = FUNCTIONS[function]
    module = cold(folder, local_env(stack, folder))
    env = RecordingEnv(local_env(stack, folder))
    assert type(module.settings).from_env(env) == module.settings
    in_template = {name for name in template_variables(template, function) if name.startswith("ZOOMOPS_")}
    assert env.read - in_template == set(), f"{function} reads variables its template does not set"
    assert in_template - env.read == set(), f"{function}'s template sets variables nothing reads"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_its_service_name_and_the_one_metrics_namespace(template, function):
    variables = template_variables(template, function)
    assert variables["POWERTOOLS_SERVICE_NAME"] == FUNCTIONS[function]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "zoomops"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_missing_variable_fails_the_cold_start_naming_it(stack, cold, function):
    folder = FUNCTIONS[function]
    env = RecordingEnv(local_env(stack, folder))
    type(cold(folder, env.values).settings).from_env(env)
    required = []
    for name in sorted(env.read):
        without = {k: v for k, v in env.values.items() if k != name}
        try:
            cold(folder, without)
        except ConfigError as error:
            assert name in str(error)
            required.append(name)
    # Every variable without a sensible default is required; the others fall back to their defaults.
    assert required, f"{function} requires nothing?"
    assert {
        "ZOOMOPS_ZOOM_ACCOUNTS",
        "ZOOMOPS_LTI_SECRET_ID",
        "ZOOMOPS_REPORTS_BUCKET",
        "ZOOMOPS_REPORT_FUNCTION",
    } & env.read <= set(required)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_malformed_variable_fails_the_cold_start_naming_it(stack, cold, function):
    folder = FUNCTIONS[function]
    good = local_env(stack, folder)
    env = RecordingEnv(good)
    type(cold(folder, good).settings).from_env(env)
    checked = 0
    for name in sorted(env.read & MALFORMED.keys()):
        for bad in MALFORMED[name]:
            with pytest.raises(ConfigError, match=name) as error:
                cold(folder, {**good, name: bad})
            assert "Traceback" not in str(error.value)
            checked += 1
    assert checked >= 1


def _parameter_bounds(template: dict[str, Any], function: str) -> Iterator[tuple[str, str, str]]:
    """(variable, parameter, value) for each variable set from a Number parameter: its bounds and default."""
    for name, value in template_variables(template, function).items():
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in template["Parameters"]:
            parameter = template["Parameters"][value["Ref"]]
            if parameter["Type"] == "Number":
                for key in ("MinValue", "MaxValue", "Default"):
                    assert key in parameter, f"{value['Ref']} has no {key}"
                    yield name, value["Ref"], str(parameter[key])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_value_the_template_parameters_allow_passes_the_cold_start(stack, template, cold, function):
    """A deploy can never pass a number the function then refuses: the parameters' bounds lie within the code's."""
    folder = FUNCTIONS[function]
    good = local_env(stack, folder)
    for name, parameter, value in _parameter_bounds(template, function):
        if name.startswith("ZOOMOPS_"):
            module = cold(folder, {**good, name: value})
            assert module.settings is not None, (parameter, value)
