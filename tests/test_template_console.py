"""template.yaml's "Console and sign-in" section: who may reach what.

* every ``/console/api`` route passes the JWT authorizer (issuer: the user pool, audience: the console's client)
  and requires the console scope; only the two static console routes are open; the machine API keeps AWS_IAM on
  every route and has no console route;
* the console function has no policy statements, no layer and no event of its own;
* the user pool admits no self sign-up, its client is a public authorization-code client whose callback is the
  console; the admin group is the one the local stack uses;
* federation to the campus IdP exists only when asked for.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from infra.local import cognito

ROOT = Path(__file__).resolve().parents[1]
CONSOLE_URL = "https://${ConsoleApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/console"
OPEN_ROUTES = {"GET /console", "GET /console/{proxy+}"}
SCOPE = {"Fn::Sub": "${ConsoleResourceServer}/console"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(ROOT / "template.yaml"))


@pytest.fixture(scope="module")
def resources(template) -> dict[str, Any]:
    return template["Resources"]


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def _integration_function(resources: dict[str, Any], route: dict[str, Any]) -> str:
    target = route["Properties"]["Target"]["Fn::Sub"]
    integration = resources[re.fullmatch(r"integrations/\$\{(\w+)\}", target).group(1)]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY" and integration["PayloadFormatVersion"] == "2.0"
    return integration["IntegrationUri"]["Fn::GetAtt"][0]


def test_every_console_api_route_passes_the_jwt_authorizer_with_the_console_scope(resources) -> None:
    routes = _of_type(resources, "AWS::ApiGatewayV2::Route")
    api_routes = {
        n: r for n, r in routes.items() if r["Properties"]["RouteKey"].split(" ")[1].startswith("/console/api")
    }
    assert [r["Properties"]["RouteKey"] for r in api_routes.values()] == ["ANY /console/api/{proxy+}"]
    for route in api_routes.values():
        props = route["Properties"]
        assert props["AuthorizationType"] == "JWT"
        assert props["AuthorizerId"] == {"Ref": "ConsoleJwtAuthorizer"}
        assert props["AuthorizationScopes"] == [SCOPE]
        assert _integration_function(resources, route) == "ApiFunction"
    authorizer = resources["ConsoleJwtAuthorizer"]["Properties"]
    assert authorizer["AuthorizerType"] == "JWT" and authorizer["ApiId"] == {"Ref": "ConsoleApi"}
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    jwt = authorizer["JwtConfiguration"]
    assert jwt["Issuer"] == {"Fn::Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${ConsoleUserPool}"}
    assert jwt["Audience"] == [{"Ref": "ConsoleUserPoolClient"}]


def test_only_the_static_console_routes_are_open(resources) -> None:
    routes = _of_type(resources, "AWS::ApiGatewayV2::Route")
    assert all(r["Properties"]["ApiId"] == {"Ref": "ConsoleApi"} for r in routes.values())
    open_routes = {
        r["Properties"]["RouteKey"]: r for r in routes.values() if r["Properties"]["AuthorizationType"] == "NONE"
    }
    assert set(open_routes) == OPEN_ROUTES
    for route in open_routes.values():
        assert _integration_function(resources, route) == "ConsoleFunction"  # pages only: no data behind them
    assert len(routes) == len(OPEN_ROUTES) + 1


def test_the_machine_api_keeps_aws_iam_on_every_route_and_has_no_console_route(resources) -> None:
    assert resources["HttpApi"]["Properties"]["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    for name, function in _of_type(resources, "AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            assert event["Properties"]["ApiId"] == {"Ref": "HttpApi"}, name
            assert event["Properties"].get("Auth", {}).get("Authorizer", "AWS_IAM") == "AWS_IAM", name
            assert not event["Properties"]["Path"].startswith("/console"), name


def test_api_gateway_may_invoke_only_the_console_paths(resources) -> None:
    permissions = {
        p["Properties"]["FunctionName"]["Ref"]: p["Properties"]["SourceArn"]["Fn::Sub"]
        for p in _of_type(resources, "AWS::Lambda::Permission").values()
    }
    prefix = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${ConsoleApi}/"
    assert permissions == {"ConsoleFunction": prefix + "*/GET/console*", "ApiFunction": prefix + "*/*/console/api/*"}


def test_the_console_function_has_no_permissions_layer_or_events(resources) -> None:
    props = resources["ConsoleFunction"]["Properties"]
    for key in ("Policies", "Role", "Layers", "Events", "VpcConfig"):
        assert key not in props, key
    assert props["Tracing"] == "PassThrough"  # Active would grant X-Ray writes
    assert props["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-console"}
    assert resources["ConsoleLogGroup"]["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${ConsoleFunction}"}


def test_the_console_function_gets_every_setting_it_reads(resources) -> None:
    source = (ROOT / "functions" / "console" / "app.py").read_text()
    read = set(re.findall(r'"(ZOOMOPS_CONSOLE_[A-Z_]+)"', source))
    variables = resources["ConsoleFunction"]["Properties"]["Environment"]["Variables"]
    assert read == set(variables)
    assert variables["ZOOMOPS_CONSOLE_SIGN_IN"] == "hosted"
    assert variables["ZOOMOPS_CONSOLE_API_BASE"] == "/console/api"
    assert variables["ZOOMOPS_CONSOLE_CLIENT_ID"] == {"Ref": "ConsoleUserPoolClient"}


def test_the_user_pool_admits_no_self_sign_up(resources) -> None:
    pool = resources["ConsoleUserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12


def test_the_client_is_a_public_code_flow_client_returning_to_the_console(resources) -> None:
    client = resources["ConsoleUserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False
    assert client["AllowedOAuthFlows"] == ["code"] and client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["CallbackURLs"] == [{"Fn::Sub": CONSOLE_URL}] and client["LogoutURLs"] == [{"Fn::Sub": CONSOLE_URL}]
    assert SCOPE in client["AllowedOAuthScopes"]  # the scope the route requires
    assert client["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]  # no password flows: the hosted page only
    assert client["PreventUserExistenceErrors"] == "ENABLED"


def test_the_admin_group_is_the_one_the_local_stack_checks(resources) -> None:
    group = resources["ConsoleAdminGroup"]["Properties"]
    assert group["GroupName"] == cognito.ADMIN_GROUP and group["UserPoolId"] == {"Ref": "ConsoleUserPool"}
    server = resources["ConsoleResourceServer"]["Properties"]
    assert f"{server['Identifier']}/{server['Scopes'][0]['ScopeName']}" == cognito.CONSOLE_SCOPE


def test_federation_exists_only_when_asked_for(template, resources) -> None:
    assert template["Parameters"]["CampusIdpType"]["Default"] == "none"
    assert template["Parameters"]["CampusOidcClientSecret"]["NoEcho"] is True
    assert resources["CampusSamlProvider"]["Condition"] == "CampusSaml"
    assert resources["CampusOidcProvider"]["Condition"] == "CampusOidc"
    assert template["Conditions"]["CampusSaml"] == {"Fn::Equals": [{"Ref": "CampusIdpType"}, "saml"]}
    providers = resources["ConsoleUserPoolClient"]["Properties"]["SupportedIdentityProviders"]
    assert providers == {
        "Fn::If": [
            "CampusSaml",
            ["COGNITO", {"Ref": "CampusSamlProvider"}],
            {"Fn::If": ["CampusOidc", ["COGNITO", {"Ref": "CampusOidcProvider"}], ["COGNITO"]]},
        ]
    }
    conditional = {n for n, r in resources.items() if r["Type"] == "AWS::Cognito::UserPoolIdentityProvider"}
    assert conditional == {"CampusSamlProvider", "CampusOidcProvider"}
    assert set(template["Rules"]) == {"CampusSamlNeedsMetadata", "CampusOidcNeedsClient"}


def test_the_outputs_tell_the_campus_idp_what_to_register(template) -> None:
    outputs = template["Outputs"]
    assert outputs["ConsoleUrl"]["Value"] == {"Fn::Sub": CONSOLE_URL}
    assert outputs["CampusSamlEntityId"]["Value"] == {"Fn::Sub": "urn:amazon:cognito:sp:${ConsoleUserPool}"}
    assert outputs["CampusSamlAcsUrl"]["Value"]["Fn::Sub"].endswith("/saml2/idpresponse")
    assert outputs["CampusOidcRedirectUrl"]["Value"]["Fn::Sub"].endswith("/oauth2/idpresponse")
