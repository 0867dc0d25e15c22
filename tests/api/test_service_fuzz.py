"""Every JSON endpoint of the service fuzzed with hypothesis-generated bodies (issue 21,
item 6): whatever the body (wrong types, NaN and Infinity, 1e999 and 2**70, lone surrogates,
control characters, nested junk, unknown fields, odd GeoJSON, bodies that are not objects)
and whatever the path ids, the answer is never a 500. The endpoints come from the app's own
OpenAPI schema (plus Open311's POST, which reads its body itself), so a new endpoint is fuzzed
without touching this file. A small stocked service (an active plan, workers, an incident;
jobs stay queued)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.settings import Settings

EXAMPLES = 15
PATH_PARAM = re.compile(r"\{([^}]+)\}")
# JSON bodies the schema does not declare (the endpoint parses them itself)
UNDECLARED = [("post", "/open311/v2/requests.json",
               {"service_code": {"type": "string"}, "lat": {"type": "string"},
                "long": {"type": "string"}, "description": {"type": "string"},
                "device_id": {"type": "string"}, "account_id": {"type": "string"}})]


def json_endpoints(app) -> list[tuple[str, str, dict]]:
    """(method, path, properties of the body's schema) of every endpoint taking JSON."""
    spec = app.openapi()
    schemas = spec.get("components", {}).get("schemas", {})
    found = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            schema = content["application/json"].get("schema", {})
            ref = schema.get("$ref") or next(
                (s["$ref"] for s in schema.get("anyOf", []) if "$ref" in s), None)
            if ref:
                schema = schemas[ref.rsplit("/", 1)[1]]
            found.append((method, path, schema.get("properties", {})))
    return found + UNDECLARED


texts = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp"]),
            max_size=10),
    st.sampled_from(["\ud800", "a\udfffb", "噪音", "环境卫生", "noise", "accept", "dispatch",
                     "08:30", "24:00", "25:99", "2026-02-30", "", " ", "x" * 5000,
                     "1e999", "NaN", "<script>alert(1)</script>", "../../etc/passwd"]))
numbers = st.one_of(
    st.integers(-10, 10), st.integers(), st.just(2 ** 70), st.just(-(2 ** 63) - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e999, -1e999, 118.78,
                                                                     32.04, 0.0, -0.0]))
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
geometries = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["Polygon", "MultiPolygon", "Point",
                                                    "LineString", "Nope"]),
                           "coordinates": st.recursive(st.lists(numbers, max_size=3),
                                                       lambda c: st.lists(c, max_size=4),
                                                       max_leaves=20)}),
    st.just({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}),
    st.just({"type": "Polygon", "coordinates": []}))
anything = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=12)


def field_values(schema: dict):
    """Values for one field: often of a plausible type, often anything."""
    kind = schema.get("type") or next((s.get("type") for s in schema.get("anyOf", [])
                                       if s.get("type") not in (None, "null")), None)
    plausible = {"string": texts, "integer": numbers, "number": numbers,
                 "boolean": st.booleans(), "array": st.lists(scalars, max_size=5),
                 "object": st.one_of(geometries, st.dictionaries(texts, scalars, max_size=3))}
    return st.one_of(plausible.get(kind, anything), anything)


def bodies(properties: dict):
    """A JSON body: the schema's fields (some left out, some odd) plus unknown ones; or a body
    that is not an object at all."""
    fields = st.fixed_dictionaries({}, optional={name: field_values(s)
                                                 for name, s in properties.items()})
    extra = st.dictionaries(texts, scalars, max_size=2)
    objects = st.builds(lambda a, b: {**b, **a}, fields, extra)
    return st.one_of(objects, objects, objects, anything)


@pytest.fixture(scope="module")
def fuzzed(open_service):
    with open_service("fuzz", start_jobs=False, client={"raise_server_exceptions": False},
                      max_jobs_per_user=10_000, max_jobs=10_000) as sv:
        p0 = sv["points"][0]
        r = sv["client"].post("/incidents", headers=sv["h"]["reporter"],
                              json={"category": "noise", "lon": p0.x, "lat": p0.y})
        assert r.status_code == 201, r.text
        yield {**sv, "incident_id": r.json()["id"]}


def path_values(sv: dict, name: str):
    known = {"plan_id": sv["plan_id"], "worker_id": sv["h"]["worker_id"],
             "incident_id": sv["incident_id"], "code": sv["codes"][0], "member_id": 1}
    return st.one_of(st.just(known.get(name, 1)), st.integers(-5, 10 ** 6),
                     st.just(2 ** 70), st.sampled_from(["x", "%00", "1.5", "nan"]))


def _endpoint_ids() -> list[str]:
    app = create_app(Settings(), start_jobs=False)  # routes only: nothing is started
    return [f"{method.upper()} {path}" for method, path, _ in json_endpoints(app)]


@pytest.mark.parametrize("endpoint", _endpoint_ids())
def test_no_json_body_makes_a_500(fuzzed, endpoint):
    c, h = fuzzed["client"], fuzzed["h"]
    method, path = endpoint.split(" ", 1)
    properties = next(p for m, pa, p in json_endpoints(fuzzed["app"])
                      if m.upper() == method and pa == path)
    names = PATH_PARAM.findall(path)
    ids = st.fixed_dictionaries({n: path_values(fuzzed, n) for n in names})

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(body=bodies(properties), params=ids, role=st.sampled_from(["admin", "reporter"]))
    def check(body, params, role):
        url = PATH_PARAM.sub(lambda m: str(params[m.group(1)]), path)
        raw = json.dumps(body, allow_nan=True)  # NaN, Infinity and \\ud800 as sent by some
        r = c.request(method, url, content=raw.encode(),
                      headers={"Content-Type": "application/json", **h[role]})
        assert r.status_code < 500, (method, url, raw[:300], r.status_code, r.text[:300])

    check()
