"""The API locally: a WSGI app that turns HTTP requests into API Gateway (HTTP API, payload v2)
events for the same handler, served on 127.0.0.1. IAM auth is not simulated: on the machine API the
handler sees an event as it would after authorisation.

With a ``ConsoleSite`` the app is the console's HTTP API instead (template.yaml's ConsoleApi): ``GET /console``
and ``GET /console/{proxy+}`` go to the console function without auth, ``ANY /console/api/{proxy+}`` passes
API Gateway's JWT authorizer (``cognito.JwtAuthorizer``) before the api function, and nothing else is routed.
Only locally, ``POST /console/local-sign-in`` signs in with a password (moto has no hosted sign-in page).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from zoomops.names import LOCAL

from .cognito import Forbidden, JwtAuthorizer, Unauthorized
from .stack import LambdaContext


@dataclass(frozen=True)
class ConsoleSite:
    """The console's routes: its function, the JWT authorizer of its API route, and (locally only) sign-in."""

    handler: Callable[[dict, Any], dict]
    authorizer: JwtAuthorizer
    sign_in: Callable[[str, str], dict] | None = None  # user, password -> tokens; raises cognito.SignInRefused


API_PREFIX = "/console/api/"


class ApiGatewayAdapter:
    def __init__(
        self,
        handler: Callable[[dict, Any], dict],
        *,
        function_name: str = LOCAL.function("api"),
        console: ConsoleSite | None = None,
    ):
        self._handler, self._function, self._console = handler, function_name, console
        self._one_at_a_time = threading.Lock()  # one Lambda container: one event at a time

    def _invoke(self, event: dict) -> dict:
        with self._one_at_a_time:
            return self._handler(event, LambdaContext(function_name=self._function, timeout_seconds=30))

    def event(self, environ: dict) -> dict:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        try:
            text, encoded = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
        path = environ.get("PATH_INFO") or "/"
        method = environ["REQUEST_METHOD"]
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": environ.get("QUERY_STRING", ""),
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "domainName": environ.get("HTTP_HOST", "127.0.0.1"),
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                    "sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": "$default",
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
                "timeEpoch": int(time.time() * 1000),
                "authorizer": {
                    "iam": {
                        "accessKey": "LOCAL",
                        "accountId": "123456789012",
                        "userArn": "arn:aws:iam::123456789012:user/local-admin",
                    }
                },
            },
            "body": text or None,
            "isBase64Encoded": encoded,
        }
        query = _query_parameters(environ.get("QUERY_STRING", ""))
        if query:  # as API Gateway: absent without a query; a repeated name's values joined by commas
            event["queryStringParameters"] = query
        return event

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        response = self._invoke(self.event(environ)) if self._console is None else self._console_route(environ)
        status = int(response.get("statusCode", 500))
        body = response.get("body") or ""
        data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        headers = [(k, str(v)) for k, v in (response.get("headers") or {}).items()]
        headers.append(("Content-Length", str(len(data))))
        start_response(f"{status} {_reason(status)}", headers)
        return [data]

    # -- the console's API ----------------------------------------------------------------------------
    def _console_route(self, environ: dict) -> dict:
        site, path, method = self._console, environ.get("PATH_INFO") or "/", environ["REQUEST_METHOD"]
        assert site is not None
        if path.startswith(API_PREFIX):
            return self._authorized(environ, site, path[len(API_PREFIX) :])
        if path == "/console/local-sign-in" and method == "POST" and site.sign_in is not None:
            return self._sign_in(environ, site)
        if method == "GET" and (path == "/console" or path.startswith("/console/")):
            event = self.event(environ)
            event["requestContext"].pop("authorizer")  # AuthorizationType NONE
            route = "GET /console" if path == "/console" else "GET /console/{proxy+}"
            event["routeKey"] = event["requestContext"]["routeKey"] = route
            if path != "/console":
                event["pathParameters"] = {"proxy": path[len("/console/") :]}
            context = LambdaContext(function_name=LOCAL.function("console"), timeout_seconds=5)
            return site.handler(event, context)
        return _gateway(404, "Not Found")

    def _authorized(self, environ: dict, site: ConsoleSite, proxy: str) -> dict:
        event = self.event(environ)
        try:
            jwt = site.authorizer.authorize(event["headers"])
        except Unauthorized as refused:
            # API Gateway's answer; the reason only in www-authenticate, as API Gateway gives it.
            challenge = f'Bearer scope="" error="invalid_token" error_description="{refused.description}"'
            return _gateway(401, "Unauthorized", {"www-authenticate": challenge})
        except Forbidden:
            return _gateway(403, "Forbidden")
        event["requestContext"]["authorizer"] = {"jwt": jwt}
        event["routeKey"] = event["requestContext"]["routeKey"] = "ANY /console/api/{proxy+}"
        event["pathParameters"] = {"proxy": proxy}
        return self._invoke(event)

    @staticmethod
    def _sign_in(environ: dict, site: ConsoleSite) -> dict:
        from .cognito import SignInRefused

        assert site.sign_in is not None
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            body = json.loads(environ["wsgi.input"].read(min(length, 4096)) or b"{}")
            username, password = str(body["username"]), str(body["password"])
        except (ValueError, KeyError, TypeError):
            return _problem(400, "Sign-in failed", "send JSON with username and password")
        try:
            tokens = site.sign_in(username, password)
        except SignInRefused as refused:
            return _problem(401, "Sign-in failed", str(refused))
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
            "body": json.dumps(tokens),
        }


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def _query_parameters(raw: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    found: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        found.setdefault(name, []).append(value)
    return {name: ",".join(values) for name, values in found.items()}


def _gateway(status: int, message: str, headers: dict[str, str] | None = None) -> dict:
    """An answer API Gateway itself gives (no route, authorizer refusals)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps({"message": message}),
    }


def _problem(status: int, title: str, detail: str) -> dict:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return {"statusCode": status, "headers": {"Content-Type": "application/problem+json"}, "body": json.dumps(body)}


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """Connections in threads (a browser keeps idle ones open); the function still sees one event at a time."""

    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class LocalApi:
    """The adapter served over real HTTP on 127.0.0.1 (a free port), in a daemon thread."""

    def __init__(self, handler: Callable[[dict, Any], dict], *, console: ConsoleSite | None = None, port: int = 0):
        self.app = ApiGatewayAdapter(handler, console=console)
        self._server = make_server("127.0.0.1", port, self.app, server_class=_ThreadingServer, handler_class=_Quiet)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LocalApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
