"""Extract, from Zoom's published OpenAPI description, what the Zoom simulator must conform to.

For every ``GET`` path the simulator serves (``infra.local.zoom_sim.ROUTES``) this writes, under
``paths``, the documented 200 response JSON schema (every ``$ref`` inlined; the non-validating
annotations ``description``, ``example`` and ``extensions`` dropped), the documented query and path
parameter names, the OAuth scopes and the rate-limit label.  For the meeting operations
(``infra.local.zoom_sim.MEETING_ROUTES``: create, get, update) it writes the same under ``operations``
(keyed ``"METHOD /template"``) plus the granular scopes, the JSON request-body schema and every
documented 2xx response schema.  The result, ``tests/fixtures/zoom_openapi_subset.json``, is read by
the simulator (to validate create/update bodies against the documented request schemas) and by the
tests (to validate its answers) without needing the (2 MB) full spec.

    python infra/local/zoom_openapi_subset.py [--spec PATH] [--out PATH]

The spec is loaded leniently (plain ``json.load``): a few of its parameter entries break strict OpenAPI
validators, and only the parts named above are read.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

try:
    from infra.local.zoom_sim import MEETING_ROUTES, ROUTES
except ImportError:  # run as a script: infra/local is sys.path[0]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from zoom_sim import MEETING_ROUTES, ROUTES  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = REPO.parent / "shared" / "reference" / "zoom-meeting-api-openapi.json"
DEFAULT_OUT = REPO / "tests" / "fixtures" / "zoom_openapi_subset.json"
DROPPED_KEYS = frozenset({"description", "example", "extensions"})
_LABEL = re.compile(r"Rate Limit Label\]\([^)]*\):\*\*\s*`([A-Za-z-]+)`")


def _resolve_pointer(spec: dict, ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    node: Any = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


def inline_refs(spec: dict, node: Any, _stack: tuple[str, ...] = ()) -> Any:
    """A copy of ``node`` with every local ``$ref`` replaced by its target (recursively, cycle-safe)."""
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            if ref in _stack:
                raise ValueError(f"recursive $ref {ref!r} cannot be inlined")
            target = inline_refs(spec, _resolve_pointer(spec, ref), _stack + (ref,))
            siblings = {k: inline_refs(spec, v, _stack) for k, v in node.items() if k != "$ref"}
            if isinstance(target, dict):
                return {**target, **siblings}
            return target
        return {k: inline_refs(spec, v, _stack) for k, v in node.items()}
    if isinstance(node, list):
        return [inline_refs(spec, v, _stack) for v in node]
    return copy.deepcopy(node)


def strip_annotations(node: Any, *, in_properties: bool = False) -> Any:
    """Drop ``description``/``example``/``extensions`` keywords (never a property that has such a name)."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if not in_properties and k in DROPPED_KEYS:
                continue
            out[k] = strip_annotations(v, in_properties=(k == "properties" and not in_properties))
        return out
    if isinstance(node, list):
        return [strip_annotations(v) for v in node]
    return node


def build_subset(spec: dict) -> dict:
    paths: dict[str, Any] = {}
    for route in ROUTES:
        path_item = inline_refs(spec, spec["paths"][route.template])
        op = path_item["get"]
        params = [p for p in path_item.get("parameters", []) + op.get("parameters", []) if isinstance(p, dict)]
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        scopes: list[str] = []
        for requirement in op.get("security", []):
            scopes.extend(requirement.get("openapi_oauth", []))
        label = _LABEL.search(op.get("description", ""))
        paths[route.template] = {
            "get": {
                "operationId": op.get("operationId"),
                "rate_limit_label": label.group(1).lower() if label else None,
                "scopes": sorted(set(scopes)),
                "path_parameters": sorted(p["name"] for p in params if p.get("in") == "path"),
                "query_parameters": sorted(p["name"] for p in params if p.get("in") == "query"),
                "response_200": strip_annotations(schema),
            }
        }
    info = spec.get("info", {})
    return {
        "source": {
            "openapi": spec.get("openapi"),
            "title": info.get("title"),
            "version": info.get("version"),
            "servers": [s.get("url") for s in spec.get("servers", [])],
        },
        "paths": paths,
        "operations": build_operations(spec),
    }


def build_operations(spec: dict) -> dict:
    """The meeting operations the simulator serves beyond ``GET``: request and 2xx response schemas."""
    ops: dict[str, Any] = {}
    for route in MEETING_ROUTES:
        path_item = inline_refs(spec, spec["paths"][route.template])
        op = path_item[route.method.lower()]
        params = [p for p in path_item.get("parameters", []) + op.get("parameters", []) if isinstance(p, dict)]
        scopes = sorted({s for req in op.get("security", []) for s in req.get("openapi_oauth", [])})
        label = _LABEL.search(op.get("description", ""))
        entry: dict[str, Any] = {
            "operationId": op.get("operationId"),
            "rate_limit_label": label.group(1).lower() if label else None,
            "scopes": scopes,
            "granular_scopes": sorted(op.get("extensions", {}).get("x-granular-scopes", [])),
            "path_parameters": sorted(p["name"] for p in params if p.get("in") == "path"),
            "query_parameters": sorted(p["name"] for p in params if p.get("in") == "query"),
            "responses": {},
        }
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body is not None:
            entry["request_body"] = strip_annotations(body)
        for code, response in sorted(op["responses"].items()):
            if code.startswith("2"):
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                entry["responses"][code] = None if schema is None else strip_annotations(schema)
        ops[f"{route.method} {route.template}"] = entry
    return ops


def render(subset: dict) -> str:
    return json.dumps(subset, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def generate(spec_path: Path) -> str:
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    return render(build_subset(spec))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help=f"default: {DEFAULT_SPEC}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    args = parser.parse_args(argv)
    text = generate(args.spec)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text)} bytes, {len(ROUTES)} paths, {len(MEETING_ROUTES)} operations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
