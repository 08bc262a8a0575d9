"""protocols.schema.meta.surely_valid against jsonschema's own check_schema: whatever the structural
check accepts, check_schema accepts (the other way round it may defer: False sends the schema to
jsonschema). Over the meta-schema's keyword list, hand-picked bad schemas and generated schemas."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from harness.suite.schemas import schema_problem
from protocols.schema.meta import CHECKS, DEFERRED, surely_valid


def jsonschema_ok(schema):
    try:
        Draft202012Validator.check_schema(schema)
        return True
    except SchemaError:
        return False


def meta_keywords() -> set[str]:
    """Every property name the 2020-12 meta-schema and its vocabulary meta-schemas define."""
    from jsonschema_specifications import REGISTRY   # jsonschema's own bundled meta-schemas
    names: set[str] = set(Draft202012Validator.META_SCHEMA.get("properties", {}))
    for v in ("core", "applicator", "unevaluated", "validation", "meta-data", "format-annotation", "content"):
        names.update(REGISTRY.contents(f"https://json-schema.org/draft/2020-12/meta/{v}").get("properties", {}))
    assert len(names) > 50
    return names


def test_every_meta_schema_keyword_is_checked_or_deferred():
    known = set(CHECKS) | set(DEFERRED)
    missing = meta_keywords() - known
    assert not missing, f"keywords of the 2020-12 meta-schema the structural check neither checks nor defers: {missing}"


BAD = [
    {"type": "strng"}, {"type": []}, {"type": ["string", "string"]}, {"properties": {"a": 3}},
    {"properties": []}, {"required": "a"}, {"required": ["a", "a"]}, {"required": [1]}, {"enum": "a"},
    {"items": [{"type": "string"}]}, {"minLength": -1}, {"minLength": "1"}, {"maximum": "9"},
    {"multipleOf": 0}, {"pattern": "("}, {"patternProperties": {"(": {}}}, {"anyOf": []},
    {"allOf": [{"type": "nope"}]}, {"additionalProperties": {"type": 5}}, {"uniqueItems": "yes"},
    {"properties": {"a": {"properties": {"b": {"type": "integer", "minimum": True}}}}},
    {"dependentRequired": {"a": "b"}}, {"$defs": {"x": 1}}, {"exclusiveMinimum": True},
    {"description": 3}, {"deprecated": 1}, {"examples": {}}, {"format": 1},
]
GOOD = [
    {"type": "object", "properties": {"a": {"type": "string", "description": "x"}, "b": {"type": ["integer", "null"]}},
     "required": ["a"], "additionalProperties": False},
    {"type": "array", "items": {"type": "object", "properties": {"x": {"enum": [1, "a", None]}}}, "minItems": 0},
    {"anyOf": [{"type": "string", "pattern": "^a+$"}, {"const": 3}], "default": "a", "optional": True},
    {"type": "object", "properties": {"d": {"type": "dict", "x-bfcl": 1}}},   # BFCL's own type name: not 2020-12
]


@pytest.mark.parametrize("schema", BAD)
def test_bad_schemas_are_not_surely_valid_and_still_fail(schema):
    assert not jsonschema_ok(schema)
    assert not surely_valid(schema)
    assert schema_problem(schema) is not None     # the loader still reports it (in jsonschema's words)


@pytest.mark.parametrize("schema", GOOD)
def test_good_schemas(schema):
    assert surely_valid(schema) == jsonschema_ok(schema)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-2, 2, allow_nan=False),
                    st.sampled_from(["string", "integer", "object", "a", "(", "^x$", "", "nope"]))
keys = st.sampled_from(sorted(CHECKS) + ["$ref", "$schema", "x-extra", "optional"])
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.one_of(keys, st.text(max_size=3)), inner,
                                                                       max_size=3)), max_leaves=12)
schemas = st.dictionaries(keys, values, max_size=4)


@settings(max_examples=600, deadline=None)
@given(schemas)
def test_what_the_structural_check_accepts_jsonschema_accepts(schema):
    if surely_valid(schema):
        assert jsonschema_ok(schema), schema
