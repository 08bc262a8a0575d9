"""Argument validation: schema normalisation, cached jsonschema validators and the fast "certainly
valid" test (`fast`)."""
from __future__ import annotations

from protocols.schema.normalise import normalise_schema
from protocols.schema.validate import Compiled, compiled_validator, note_valid_schema, schema_violations

__all__ = ["Compiled", "compiled_validator", "normalise_schema", "note_valid_schema", "schema_violations"]
