"""The shared settings vectors (``tests/vectors/settings.json``), which the .NET suite checks too."""

import json
import os

import pytest

from firstsip_sidecar import schema
from firstsip_sidecar.errors import ManifestError
from firstsip_sidecar.plugins import load_manifest

VECTORS = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "vectors", "settings.json")

with open(VECTORS, encoding="utf-8") as handle:
    CASES = json.load(handle)["cases"]


def test_the_vectors_are_there():
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_settings_vector(case, tmp_path):
    folder = tmp_path / "vector"
    folder.mkdir()
    defaults = json.dumps(case.get("default_config") or {})
    (folder / "plugin.yaml").write_text(
        f"schema_version: 1\nname: vector\nruntime: python\nentry: main:run\ndefault_config: {defaults}\n"
    )
    (folder / "settings.schema.json").write_text(json.dumps(case["schema"]))
    expected = case["expected"]
    if "schema_error" in expected:
        with pytest.raises(ManifestError) as caught:
            load_manifest(str(folder))
        assert expected["schema_error"] in str(caught.value)
        return
    manifest = load_manifest(str(folder))

    merged = manifest.merged_settings(case["settings"])
    errors = manifest.validate_settings(merged)

    assert [f"{p}: {m}" if p else m for p, m in errors] == [
        f"{e['path']}: {e['message']}" if e["path"] else e["message"] for e in expected.get("errors", [])
    ]
    assert (errors == []) == expected["valid"]
    if "settings" in expected:
        assert merged == expected["settings"]


def test_keywords_the_dotnet_side_does_not_enforce_make_the_schema_invalid():
    problems = schema.check_schema({"type": "object", "properties": {"k": {"const": 1}}, "if": {}})
    assert problems == [
        "#: unsupported keyword 'if' (not validated by the .NET catalog)",
        "#/properties/k: unsupported keyword 'const' (not validated by the .NET catalog)",
    ]
    assert schema.check_schema({"type": "object", "properties": {"k": {"type": "wrong"}}})
