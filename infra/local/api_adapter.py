"""The API locally: a WSGI app that turns HTTP requests into API Gateway (HTTP API, payload v2)
events for the same handler, served on 127.0.0.1. What API Gateway itself does (IAM auth) is
not simulated: the handler sees an event as it would after authorisation.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, make_server

from zoomops.names import LOCAL

from .stack import LambdaContext

_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    415: "Unsupported Media Type",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}


class ApiGatewayAdapter:
    def __init__(self, handler: Callable[[dict, Any], dict], *, function_name: str = LOCAL.function("api")):
        self._handler, self._function = handler, function_name

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
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        if query:  # as API Gateway: absent without a query
            event["queryStringParameters"] = query
        return event

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        response = self._handler(self.event(environ), LambdaContext(function_name=self._function, timeout_seconds=30))
        status = int(response.get("statusCode", 500))
        body = response.get("body") or ""
        data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        headers = [(k, str(v)) for k, v in (response.get("headers") or {}).items()]
        headers.append(("Content-Length", str(len(data))))
        start_response(f"{status} {_REASONS.get(status, 'Status')}", headers)
        return [data]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class LocalApi:
    """The adapter served over real HTTP on 127.0.0.1 (a free port), in a daemon thread."""

    def __init__(self, handler: Callable[[dict, Any], dict]):
        self.app = ApiGatewayAdapter(handler)
        self._server = make_server("127.0.0.1", 0, self.app, handler_class=_Quiet)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LocalApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
