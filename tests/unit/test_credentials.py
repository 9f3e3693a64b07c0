"""zoomops.credentials without AWS: reading values, refusals, and AWS error text that can carry no value."""

from __future__ import annotations

import io

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from zoomops.cli import credentials
from zoomops.cli.credentials import LTI_FIELDS
from zoomops.errors import ConfigError

SECRET = 'Se"cret\\-xyzzy-42'  # quotes and a backslash: JSON escapes them


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_tty_asks_for_each_field_in_order_and_reads_nothing_from_the_stream():
    asked = []
    answers = iter(["Acct-01", "client-01", SECRET])
    values = credentials.read_values(
        credentials.ZOOM_FIELDS, Tty("ignored\n"), prompt=lambda text: asked.append(text) or next(answers)
    )
    assert asked == ["account_id: ", "client_id: ", "client_secret: "]
    assert values == {"account_id": "Acct-01", "client_id": "client-01", "client_secret": SECRET}


def test_tty_refuses_an_empty_answer_naming_the_field():
    with pytest.raises(credentials.InputError, match="^secret is empty$"):
        credentials.read_values(credentials.LTI_FIELDS, Tty(), prompt=lambda text: "" if "secret" in text else "k-1")


def test_pipe_keeps_inner_characters_and_refuses_non_utf8():
    assert credentials.read_values(credentials.LTI_FIELDS, io.StringIO(f"k-1\n{SECRET}\n"))["secret"] == SECRET
    stream = io.TextIOWrapper(io.BytesIO(b"k-1\n\xff\xfe\n"), encoding="utf-8")
    with pytest.raises(credentials.InputError, match="not UTF-8"):
        credentials.read_values(credentials.LTI_FIELDS, stream)


def test_targets():
    lti = credentials.lti_target("arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf", "admin@example.edu")
    assert (lti.fields, lti.extra, lti.create_description) == (LTI_FIELDS, {"user_id": "admin@example.edu"}, None)
    zoom = credentials.zoom_target("sub_2", {"ZOOMOPS_ZOOM_SECRET_PREFIX": "stk/zoom/"})
    assert zoom.secret_id == "stk/zoom/sub_2/credentials" and zoom.create_description
    with pytest.raises(credentials.InputError, match="--secret-id"):
        credentials.lti_target(" ")
    with pytest.raises(credentials.InputError, match="--account: account name 'a.b'"):
        credentials.zoom_target("a.b", {"ZOOMOPS_ZOOM_SECRET_PREFIX": "stk/zoom/"})
    with pytest.raises(ConfigError, match="ZOOMOPS_ZOOM_SECRET_PREFIX"):
        credentials.zoom_target("main", {})


@pytest.mark.parametrize(
    "exc",
    [
        ClientError(
            {"Error": {"Code": "ValidationException", "Message": f"bad SecretString {SECRET}"}}, "PutSecretValue"
        ),
        ClientError(
            {"Error": {"Code": "ValidationException", "Message": '{"secret": "Se\\"cret\\\\-xyzzy-42"}'}},
            "PutSecretValue",
        ),
        ParamValidationError(report=f"Invalid type for parameter SecretString, value: {SECRET}"),
        EndpointConnectionError(endpoint_url=f"http://127.0.0.1:9/{SECRET}"),
    ],
    ids=["raw", "json-escaped", "param-validation", "connection"],
)
def test_aws_errors_never_carry_a_value(exc):
    text = credentials.aws_reason(exc, ["k-1", SECRET])
    assert "Se" + '"cret' not in text and "xyzzy" not in text
    assert text.split(":")[0] in (
        "ValidationException",
        "the request failed parameter validation",
        "EndpointConnectionError",
    )


def test_store_turns_botocore_errors_into_a_store_error_without_context():
    class Failing:
        class exceptions:
            ResourceNotFoundException = type("ResourceNotFoundException", (Exception,), {})

        def put_secret_value(self, **kwargs):
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": f"not allowed: {kwargs['SecretString']}"}},
                "PutSecretValue",
            )

    target = credentials.lti_target("x/lti")
    with pytest.raises(credentials.StoreError) as info:
        credentials.store(Failing(), target, {"key": "k-1", "secret": SECRET})
    assert str(info.value).startswith("could not store LTI Pro credentials in x/lti: AccessDeniedException")
    assert "xyzzy" not in str(info.value) and info.value.__suppress_context__
