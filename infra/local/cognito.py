"""The console's sign-in, locally: moto's cognito-idp as the user pool, and the checks API Gateway's JWT
authorizer makes before a ``/console/api/...`` request reaches the api function.

Deployed, the console's HTTP API has a JWT authorizer (issuer: the user pool, audience: the console's app
client) on ``ANY /console/api/{proxy+}``, and the route requires the ``zoomops/console`` scope, which only
access tokens carry. Moto issues tokens for password sign-in only (it has no hosted page, and a password
sign-in never carries a custom scope), so locally the same property, "an access token of this client", is
checked through ``token_use``. Everything else is what API Gateway checks: the signature against the pool's
JWKS (RS256, by ``kid``), ``iss``, ``aud`` (or ``client_id`` when a token has no ``aud``), ``exp``, ``nbf``
and ``iat``. A failure is API Gateway's ``401 {"message":"Unauthorized"}`` with its ``www-authenticate``
header; the claims of a token that passes reach the function as API Gateway (payload 2.0) renders them:
every value a string, a list as ``"[a b]"``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ADMIN_GROUP = "zoomops-admins"  # template.yaml's ConsoleAdminGroup
CONSOLE_SCOPE = "zoomops/console"  # template.yaml's ConsoleResourceServer scope (deployed only)
DEMO_USER = "admin@campus.example.edu"


@dataclass(frozen=True)
class LocalPool:
    """A user pool and its console app client on the local moto server."""

    endpoint: str
    region: str
    pool_id: str
    client_id: str

    @property
    def issuer(self) -> str:
        # What moto (and Cognito) write into ``iss``: the AWS host, never the local endpoint.
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint}/{self.pool_id}/.well-known/jwks.json"


def create_pool(idp, *, endpoint: str, region: str, name: str = "zoomops-console") -> LocalPool:
    """The pool as template.yaml declares it (sign-in by email, admins create users, the admin group) with an
    app client that also allows password sign-in (the local console's form; the deployed client does not)."""
    pool_id = idp.create_user_pool(
        PoolName=name,
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
        Policies={"PasswordPolicy": {"MinimumLength": 12}},
    )["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="console",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        PreventUserExistenceErrors="ENABLED",
    )["UserPoolClient"]["ClientId"]
    idp.create_group(UserPoolId=pool_id, GroupName=ADMIN_GROUP, Description="may use the zoomops console")
    return LocalPool(endpoint=endpoint, region=region, pool_id=pool_id, client_id=client_id)


def add_user(idp, pool: LocalPool, email: str, password: str, *, groups: tuple[str, ...] = (ADMIN_GROUP,)) -> None:
    idp.admin_create_user(
        UserPoolId=pool.pool_id,
        Username=email,
        MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
    )
    idp.admin_set_user_password(UserPoolId=pool.pool_id, Username=email, Password=password, Permanent=True)
    for group in groups:
        idp.admin_add_user_to_group(UserPoolId=pool.pool_id, Username=email, GroupName=group)


class SignInRefused(Exception):
    """Wrong user name or password (never says which)."""


def password_sign_in(idp, pool: LocalPool, username: str, password: str) -> dict[str, Any]:
    """InitiateAuth USER_PASSWORD_AUTH: the tokens the console keeps in memory."""
    try:
        answer = idp.initiate_auth(
            ClientId=pool.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    except (idp.exceptions.NotAuthorizedException, idp.exceptions.UserNotFoundException) as error:
        raise SignInRefused("wrong user name or password") from error
    result = answer.get("AuthenticationResult")
    if not result:  # a challenge (new password, MFA): not offered locally
        raise SignInRefused(f"this user must first answer {answer.get('ChallengeName')}")
    return {"accessToken": result["AccessToken"], "idToken": result["IdToken"], "expiresIn": result["ExpiresIn"]}


# -- what API Gateway's JWT authorizer checks ---------------------------------------------------------------
class Unauthorized(Exception):
    """401: the token is missing, malformed, badly signed, expired or not for this API."""

    def __init__(self, description: str):
        super().__init__(description)
        self.description = description


class Forbidden(Exception):
    """403: a valid token without the route's scopes."""


def render_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as API Gateway's payload 2.0 gives them to the function: strings, lists as ``[a b]``."""

    def render(value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return "[" + " ".join(v if isinstance(v, str) else json.dumps(v) for v in value) + "]"
        return json.dumps(value)

    return {name: render(value) for name, value in claims.items() if value is not None}


class JwtAuthorizer:
    """API Gateway's JWT authorizer for one route: ``authorize(headers)`` gives ``{"claims", "scopes"}`` (what
    ``requestContext.authorizer.jwt`` holds) or raises Unauthorized / Forbidden."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: list[str],
        jwks_url: str,
        scopes: tuple[str, ...] = (),
        token_use: str | None = "access",
        clock: Callable[[], float] = time.time,
        fetch: Callable[[str], dict] | None = None,
    ):
        self.issuer, self.audience, self.jwks_url = issuer, list(audience), jwks_url
        self.scopes, self.token_use, self._clock = scopes, token_use, clock
        self._fetch = fetch or _get_json
        self._keys: Any = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _key_set(self, kid: str):
        """The pool's keys, fetched once and again when a token names a key not seen yet (at most every 10 s)."""
        from joserfc.jwk import KeySet

        with self._lock:
            known = self._keys is not None and any(key.kid == kid for key in self._keys.keys)
            if not known and self._clock() - self._fetched_at >= 10:
                self._keys, self._fetched_at = KeySet.import_key_set(self._fetch(self.jwks_url)), self._clock()
            return self._keys

    def authorize(self, headers: dict[str, str]) -> dict[str, Any]:
        token = (headers.get("authorization") or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            raise Unauthorized("no token in the Authorization header")
        claims = self._verified(token)
        self._check_claims(claims)
        granted = str(claims.get("scope") or "").split()
        if self.scopes and not set(self.scopes) & set(granted):
            raise Forbidden("the token has none of the route's scopes")
        return {"claims": render_claims(claims), "scopes": granted or None}

    def _verified(self, token: str) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import JoseError

        try:
            header = _header(token)
            if header.get("alg") != "RS256" or not header.get("kid"):
                raise Unauthorized("the token is not signed with RS256 and a key id")
            keys = self._key_set(str(header["kid"]))
            return dict(jwt.decode(token, keys, algorithms=["RS256"]).claims)
        except Unauthorized:
            raise
        except (JoseError, ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
            raise Unauthorized(f"the token could not be verified ({type(error).__name__})") from None

    def _check_claims(self, claims: dict[str, Any]) -> None:
        now = self._clock()
        if claims.get("iss") != self.issuer:
            raise Unauthorized("the token does not have a valid issuer")
        audience = claims.get("aud") if "aud" in claims else claims.get("client_id")
        audiences = audience if isinstance(audience, list) else [audience]
        if not set(audiences) & set(self.audience):
            raise Unauthorized("the token does not have a valid audience")
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= now:
            raise Unauthorized("the token has expired")
        if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] > now:
            raise Unauthorized("the token is not valid yet")
        if isinstance(claims.get("iat"), (int, float)) and claims["iat"] > now + 1:
            raise Unauthorized("the token was issued in the future")
        if self.token_use and claims.get("token_use") != self.token_use:
            raise Unauthorized(f"the token is not an {self.token_use} token")


def _header(token: str) -> dict[str, Any]:
    import base64

    first = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))


def _get_json(url: str) -> dict:
    import requests

    answer = requests.get(url, timeout=10)
    answer.raise_for_status()
    return answer.json()
