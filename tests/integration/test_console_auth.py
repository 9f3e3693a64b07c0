"""The console's API locally, over real HTTP: the JWT check API Gateway's authorizer makes (against tokens moto's
cognito-idp issued and its JWKS), what reaches the api function when a token passes, the local password sign-in,
the static routes, and the admin group the api function requires."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from infra.local import cognito
from infra.local.api_adapter import ConsoleSite, LocalApi
from infra.local.stack import REGION, load_handler

PASSWORD = "Console-test-pass-9!"
ADMIN, OUTSIDER = "admin@campus.example.edu", "visitor@campus.example.edu"


@pytest.fixture
def pool(stack):
    idp = stack.client("cognito-idp")
    made = cognito.create_pool(idp, endpoint=stack.endpoint, region=REGION)
    cognito.add_user(idp, made, ADMIN, PASSWORD)
    cognito.add_user(idp, made, OUTSIDER, PASSWORD, groups=())
    return made


def sign_in(stack, pool, user: str = ADMIN) -> dict:
    return cognito.password_sign_in(stack.client("cognito-idp"), pool, user, PASSWORD)


class Recorder:
    """Stands in for the api function: records the event API Gateway would hand it."""

    def __init__(self):
        self.events: list[dict] = []

    def __call__(self, event: dict, context) -> dict:
        self.events.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"ok": true}'}


def console_server(stack, pool, handler, *, clock=time.time, monkeypatch=None) -> LocalApi:
    authorizer = cognito.JwtAuthorizer(
        issuer=pool.issuer, audience=[pool.client_id], jwks_url=pool.jwks_url, clock=clock
    )
    idp = stack.client("cognito-idp")
    site = ConsoleSite(
        handler=_console_handler(monkeypatch, stack, pool) if monkeypatch else Recorder(),
        authorizer=authorizer,
        sign_in=lambda user, password: cognito.password_sign_in(idp, pool, user, password),
    )
    return LocalApi(handler, console=site)


def _console_handler(monkeypatch, stack, pool):
    env = {
        "ZOOMOPS_CONSOLE_SIGN_IN": "password",
        "ZOOMOPS_CONSOLE_REGION": REGION,
        "ZOOMOPS_CONSOLE_USER_POOL_ID": pool.pool_id,
        "ZOOMOPS_CONSOLE_CLIENT_ID": pool.client_id,
        "ZOOMOPS_CONSOLE_API_BASE": "/console/api",
        "ZOOMOPS_CONSOLE_UPLOAD_ORIGIN": stack.endpoint,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_handler("console").handler


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def unauthorized(answer: requests.Response, reason: str) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.json() == {"message": "Unauthorized"}
    assert reason in answer.headers["www-authenticate"]


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _parts(token: str) -> tuple[dict, dict, str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


def test_a_valid_access_token_reaches_the_function_with_the_claims_as_api_gateway_gives_them(stack, pool) -> None:
    recorder = Recorder()
    tokens = sign_in(stack, pool)
    with console_server(stack, pool, recorder) as site:
        answer = requests.get(f"{site.base_url}/console/api/jobs?state=failed", headers=bearer(tokens["accessToken"]))
    assert answer.status_code == 200, answer.text
    (event,) = recorder.events
    assert event["rawPath"] == "/console/api/jobs" and event["rawQueryString"] == "state=failed"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "ANY /console/api/{proxy+}"
    assert event["pathParameters"] == {"proxy": "jobs"}
    jwt = event["requestContext"]["authorizer"]["jwt"]
    assert set(event["requestContext"]["authorizer"]) == {"jwt"}  # no IAM identity on the console's routes
    claims = jwt["claims"]
    assert claims["cognito:groups"] == f"[{cognito.ADMIN_GROUP}]"  # API Gateway's rendering of a list
    assert claims["client_id"] == pool.client_id and claims["token_use"] == "access"
    assert claims["iss"] == pool.issuer and all(isinstance(v, str) for v in claims.values())


def test_every_bad_token_is_refused_before_the_function(stack, pool) -> None:
    recorder = Recorder()
    tokens = sign_in(stack, pool)
    idp = stack.client("cognito-idp")
    other_client = cognito.LocalPool(
        stack.endpoint,
        REGION,
        pool.pool_id,
        idp.create_user_pool_client(
            UserPoolId=pool.pool_id, ClientName="other", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
        )["UserPoolClient"]["ClientId"],
    )
    other_pool = cognito.create_pool(idp, endpoint=stack.endpoint, region=REGION, name="another")
    cognito.add_user(idp, other_pool, ADMIN, PASSWORD)
    header, claims, signature = _parts(tokens["accessToken"])
    forged = ".".join((_b64(header), _b64({**claims, "username": "someone-else"}), signature))
    unsigned = ".".join((_b64({"alg": "none", "kid": header["kid"]}), _b64(claims), ""))
    hs256 = ".".join((_b64({**header, "alg": "HS256"}), _b64(claims), signature))
    with console_server(stack, pool, recorder) as site:
        url = f"{site.base_url}/console/api/tokens"
        unauthorized(requests.get(url), "no token")
        unauthorized(requests.get(url, headers=bearer("not-a-jwt")), "could not be verified")
        unauthorized(requests.get(url, headers=bearer(forged)), "could not be verified")  # bad signature
        unauthorized(requests.get(url, headers=bearer(unsigned)), "RS256")
        unauthorized(requests.get(url, headers=bearer(hs256)), "RS256")
        other = cognito.password_sign_in(idp, other_client, ADMIN, PASSWORD)["accessToken"]
        unauthorized(requests.get(url, headers=bearer(other)), "audience")
        elsewhere = cognito.password_sign_in(idp, other_pool, ADMIN, PASSWORD)["accessToken"]
        unauthorized(requests.get(url, headers=bearer(elsewhere)), "issuer")  # same signing key in moto
        unauthorized(requests.get(url, headers=bearer(tokens["idToken"])), "not an access token")
    with console_server(stack, pool, recorder, clock=lambda: time.time() + 3601) as site:
        unauthorized(
            requests.get(f"{site.base_url}/console/api/tokens", headers=bearer(tokens["accessToken"])), "expired"
        )
    assert recorder.events == []


def test_password_sign_in_refuses_without_telling_which_part_was_wrong(stack, pool) -> None:
    with console_server(stack, pool, Recorder()) as site:
        url = f"{site.base_url}/console/local-sign-in"
        wrong = requests.post(url, json={"username": ADMIN, "password": "Wrong-pass-123!"})
        nobody = requests.post(url, json={"username": "nobody@campus.example.edu", "password": PASSWORD})
        bad = requests.post(url, data="username=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
        good = requests.post(url, json={"username": ADMIN, "password": PASSWORD})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json() and wrong.headers["Content-Type"] == "application/problem+json"
    assert PASSWORD not in wrong.text + nobody.text + bad.text
    assert bad.status_code == 400
    assert good.status_code == 200 and good.headers["Cache-Control"] == "no-store"
    assert set(good.json()) == {"accessToken", "idToken", "expiresIn"}


def test_the_console_api_serves_the_pages_openly_and_nothing_else(stack, pool, monkeypatch) -> None:
    recorder = Recorder()
    with console_server(stack, pool, recorder, monkeypatch=monkeypatch) as site:
        page = requests.get(f"{site.base_url}/console")
        config = requests.get(f"{site.base_url}/console/config.json").json()
        machine_route = requests.get(f"{site.base_url}/tokens")
        posted = requests.post(f"{site.base_url}/console", data="x")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert config["signIn"] == "password" and config["clientId"] == pool.client_id
    assert machine_route.status_code == 404 and machine_route.json() == {"message": "Not Found"}
    assert posted.status_code == 404
    assert recorder.events == []


def test_the_api_function_requires_the_admin_group(stack, pool) -> None:
    """Through the real api function: a signed-in user outside zoomops-admins gets 403 problem details."""
    api = stack.load_api()
    with console_server(stack, pool, api.handler) as site:
        url = f"{site.base_url}/console/api/tokens"
        outsider = requests.get(url, headers=bearer(sign_in(stack, pool, OUTSIDER)["accessToken"]))
        admin = requests.get(url, headers=bearer(sign_in(stack, pool, ADMIN)["accessToken"]))
    assert outsider.status_code == 403, outsider.text
    assert outsider.headers["Content-Type"].startswith("application/problem+json")
    assert outsider.json()["status"] == 403
    assert admin.status_code == 200, admin.text
    assert {entry["account"] for entry in admin.json()} >= {"main"}
