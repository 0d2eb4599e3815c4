"""The committed JSON schema files match the pydantic models, and they reject bad documents."""

import json

import jsonschema
import pytest

from tunepilot.agent.schemas import MODELS, SCHEMA_DIR, Request, schema_of


@pytest.mark.parametrize("name", sorted(MODELS))
def test_schema_files_in_sync(name):
    committed = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    assert committed == schema_of(name), f"regenerate: python -m tunepilot.agent.schemas --write ({name})"


def test_request_schema_validates_and_rejects():
    schema = json.loads((SCHEMA_DIR / "request.schema.json").read_text())
    doc = json.loads(Request(goal="g").model_dump_json())
    jsonschema.validate(doc, schema)
    for bad in ({**doc, "task_type": "poetry"}, {**doc, "surprise": 1},
                {**doc, "training_config": {**doc["training_config"], "method": "dora"}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
