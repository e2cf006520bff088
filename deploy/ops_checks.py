"""Operational checks of the rendered manifests (called by deploy.policy.check_all):

* every Deployment's containers wait in `preStop` before SIGTERM, shorter than the grace period, so a
  rollout drops no request while endpoints and the Gateway catch up (docs/operations.md#rollouts-without-dropped-requests);
* Gateway API resources are valid (a strict schema of the Gateway API v1 standard-channel fields this
  repository uses, written after the specification, gateway-api v1.2: an unknown or misspelt field fails
  here instead of being dropped by the API server);
* the public routes are safe: every HTTPRoute attaches to an HTTPS listener that terminates TLS (or is the
  port-80 redirect), names a Service and port that exist, and no match reaches an internal path
  (/docs, /redoc, /openapi.json, /metrics, probes, ingest's admin API) — a `PathPrefix: /` would.
"""

from __future__ import annotations

from collections.abc import Iterable

import jsonschema

GATEWAY_API = "gateway.networking.k8s.io/v1"
INTERNAL_PATHS = ("/docs", "/redoc", "/openapi.json", "/metrics", "/healthz", "/readyz", "/v1/enrollments",
                  "/v1/withdrawals", "/v1/admin/clock")
MIN_PRE_STOP_S = 5

_NAME = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_HOST = {"type": "string", "pattern": r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"}
_META = {"type": "object", "required": ["name"], "properties": {
    "name": _NAME, "namespace": _NAME, "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "annotations": {"type": "object", "additionalProperties": {"type": "string"}}}, "additionalProperties": False}
_ALLOWED_ROUTES = {"type": "object", "properties": {"namespaces": {"type": "object", "properties": {
    "from": {"enum": ["All", "Same", "Selector"]}, "selector": {"type": "object"}}, "additionalProperties": False},
    "kinds": {"type": "array"}}, "additionalProperties": False}
_LISTENER = {"type": "object", "required": ["name", "protocol", "port"], "properties": {
    "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 253},
    "hostname": _HOST, "protocol": {"enum": ["HTTP", "HTTPS", "TLS", "TCP", "UDP"]},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "tls": {"type": "object", "properties": {
        "mode": {"enum": ["Terminate", "Passthrough"]},
        "certificateRefs": {"type": "array", "maxItems": 64, "items": {"type": "object", "required": ["name"],
                            "properties": {"group": {"type": "string"}, "kind": {"type": "string"}, "name": _NAME,
                                           "namespace": _NAME}, "additionalProperties": False}},
        "options": {"type": "object", "additionalProperties": {"type": "string"}}}, "additionalProperties": False},
    "allowedRoutes": _ALLOWED_ROUTES}, "additionalProperties": False}
_PATH = {"type": "object", "properties": {"type": {"enum": ["Exact", "PathPrefix", "RegularExpression"]},
                                          "value": {"type": "string", "pattern": "^/", "maxLength": 1024}},
         "additionalProperties": False}
_MATCH = {"type": "object", "properties": {
    "path": _PATH, "method": {"enum": ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]},
    "headers": {"type": "array"}, "queryParams": {"type": "array"}}, "additionalProperties": False}
_FILTER = {"type": "object", "required": ["type"], "properties": {
    "type": {"enum": ["RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror", "RequestRedirect",
                      "URLRewrite", "ExtensionRef"]},
    "requestRedirect": {"type": "object", "properties": {
        "scheme": {"enum": ["http", "https"]}, "hostname": _HOST, "path": {"type": "object"},
        "port": {"type": "integer"}, "statusCode": {"enum": [301, 302]}}, "additionalProperties": False},
    "requestHeaderModifier": {"type": "object"}, "responseHeaderModifier": {"type": "object"},
    "urlRewrite": {"type": "object"}}, "additionalProperties": False}
_BACKEND = {"type": "object", "required": ["name"], "properties": {
    "group": {"type": "string"}, "kind": {"type": "string"}, "name": _NAME, "namespace": _NAME,
    "port": {"type": "integer", "minimum": 1, "maximum": 65535}, "weight": {"type": "integer", "minimum": 0}},
    "additionalProperties": False}
SCHEMAS = {
    f"{GATEWAY_API}/Gateway": {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "properties": {
        "apiVersion": {"const": GATEWAY_API}, "kind": {"const": "Gateway"}, "metadata": _META,
        "spec": {"type": "object", "required": ["gatewayClassName", "listeners"], "properties": {
            "gatewayClassName": _NAME, "listeners": {"type": "array", "minItems": 1, "maxItems": 64, "items": _LISTENER},
            "addresses": {"type": "array"}, "infrastructure": {"type": "object"}}, "additionalProperties": False}},
        "additionalProperties": False},
    f"{GATEWAY_API}/HTTPRoute": {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "properties": {
        "apiVersion": {"const": GATEWAY_API}, "kind": {"const": "HTTPRoute"}, "metadata": _META,
        "spec": {"type": "object", "properties": {
            "parentRefs": {"type": "array", "minItems": 1, "maxItems": 32, "items": {"type": "object", "required": ["name"],
                           "properties": {"group": {"type": "string"}, "kind": {"type": "string"}, "name": _NAME,
                                          "namespace": _NAME, "sectionName": {"type": "string"},
                                          "port": {"type": "integer"}}, "additionalProperties": False}},
            "hostnames": {"type": "array", "maxItems": 16, "items": _HOST},
            "rules": {"type": "array", "minItems": 1, "maxItems": 16, "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "matches": {"type": "array", "maxItems": 64, "items": _MATCH},
                "filters": {"type": "array", "maxItems": 16, "items": _FILTER},
                "backendRefs": {"type": "array", "maxItems": 16, "items": _BACKEND},
                "timeouts": {"type": "object"}}, "additionalProperties": False}}},
            "required": ["parentRefs", "rules"], "additionalProperties": False}},
        "additionalProperties": False},
}


def _where(resource: dict) -> str:
    return f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"


def is_gateway_api(resource: dict) -> bool:
    return resource.get("apiVersion", "").startswith("gateway.networking.k8s.io/")


def validate_gateway_api(resources: Iterable[dict]) -> list[str]:
    errors = []
    for resource in resources:
        key = f"{resource.get('apiVersion')}/{resource.get('kind')}"
        if key not in SCHEMAS:
            errors.append(f"{_where(resource)}: {key} is not a Gateway API v1 kind this repository checks")
            continue
        for error in sorted(jsonschema.Draft202012Validator(SCHEMAS[key]).iter_errors(resource),
                            key=lambda e: list(e.absolute_path)):
            path = ".".join(str(p) for p in error.absolute_path)
            errors.append(f"{_where(resource)}: {path}: {error.message[:300]}")
    return errors


def _covers(match: dict, path: str) -> bool:
    """Whether a route match would send `path` to the backend (no match = every path)."""
    spec = match.get("path") or {"type": "PathPrefix", "value": "/"}
    kind, value = spec.get("type", "PathPrefix"), spec.get("value", "/")
    if kind == "Exact":
        return value == path
    if kind == "PathPrefix":
        prefix = value.rstrip("/")
        return prefix == "" or path == prefix or path.startswith(prefix + "/")
    return True  # a regular expression: not provably safe


def check_public_routes(resources: list[dict]) -> list[str]:
    errors = []
    gateways = {g["metadata"]["name"]: g for g in resources if g.get("kind") == "Gateway"}
    services = {s["metadata"]["name"]: {p.get("port") for p in s.get("spec", {}).get("ports", [])}
                for s in resources if s.get("kind") == "Service"}
    for route in (r for r in resources if r.get("kind") == "HTTPRoute"):
        where, spec = _where(route), route.get("spec", {})
        redirect_only = all(
            not rule.get("backendRefs") and any(f.get("type") == "RequestRedirect" for f in rule.get("filters", []))
            for rule in spec.get("rules", []))
        for parent in spec.get("parentRefs", []):
            gateway = gateways.get(parent.get("name"))
            if gateway is None:
                errors.append(f"{where}: parentRef {parent.get('name')} names no Gateway in the manifests")
                continue
            listeners = [x for x in gateway["spec"].get("listeners", [])
                         if parent.get("sectionName") in (None, x.get("name"))]
            if not listeners:
                errors.append(f"{where}: Gateway {parent.get('name')} has no listener {parent.get('sectionName')}")
            for listener in listeners:
                tls = listener.get("tls") or {}
                terminated = listener.get("protocol") == "HTTPS" and tls.get("mode", "Terminate") == "Terminate" \
                    and tls.get("certificateRefs")
                if not terminated and not redirect_only:
                    errors.append(f"{where}: served on listener {listener.get('name')} without TLS "
                                  "(HTTPS with certificateRefs; plain HTTP may only redirect)")
        for rule in spec.get("rules", []):
            for backend in rule.get("backendRefs", []):
                if backend.get("kind", "Service") != "Service":
                    continue
                ports = services.get(backend.get("name"))
                if ports is None:
                    errors.append(f"{where}: backend {backend.get('name')} is not a Service in the manifests")
                elif backend.get("port") not in ports:
                    errors.append(f"{where}: Service {backend.get('name')} has no port {backend.get('port')}")
            if not rule.get("backendRefs"):
                continue
            for match in rule.get("matches") or [{}]:
                exposed = [p for p in INTERNAL_PATHS if _covers(match, p)]
                if exposed:
                    errors.append(f"{where}: match {match.get('path', {'type': 'PathPrefix', 'value': '/'})} "
                                  f"makes internal paths public: {', '.join(exposed)}")
    return errors


def check_pre_stop(resources: list[dict]) -> list[str]:
    errors = []
    for deployment in (r for r in resources if r.get("kind") == "Deployment"):
        pod = deployment.get("spec", {}).get("template", {}).get("spec", {})
        grace = pod.get("terminationGracePeriodSeconds", 30)
        for container in pod.get("containers", []):
            where = f"{_where(deployment)} container {container.get('name')}"
            pre_stop = (container.get("lifecycle") or {}).get("preStop") or {}
            if "sleep" in pre_stop:
                seconds = pre_stop["sleep"].get("seconds", 0)
                if seconds < MIN_PRE_STOP_S:
                    errors.append(f"{where}: preStop sleep {seconds}s is shorter than {MIN_PRE_STOP_S}s: endpoints and "
                                  "the Gateway may still route to the pod after it stops")
                if seconds >= grace:
                    errors.append(f"{where}: preStop sleep {seconds}s leaves nothing of terminationGracePeriodSeconds "
                                  f"{grace}s for the requests in flight")
            elif "exec" not in pre_stop:
                errors.append(f"{where}: no lifecycle.preStop delay: a rollout drops the requests routed to it "
                              "while endpoints update")
    return errors


def check_operations(resources: list[dict]) -> list[str]:
    return check_pre_stop(resources) + check_public_routes(resources)
