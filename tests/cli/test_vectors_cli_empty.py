"""``hil vectors check`` on a file with no vectors is an error, not "0 passed" (issue 12)."""

import json

import pytest
from click.testing import CliRunner

from hil.cli import main


@pytest.mark.parametrize(
    ("content", "what"),
    [([], "an empty list"), ([{"id": "a"}, {"note": 1}], "2 object(s), none with a 'kind'")],
)
def test_file_without_vectors_is_a_one_line_error(tmp_path, content, what):
    path = tmp_path / "v.json"
    path.write_text(json.dumps(content))
    result = CliRunner().invoke(main, ["vectors", "check", str(path)])
    assert result.exit_code == 2
    assert result.output == f"error: {path}: has no vectors ({what}); format: docs/vectors.md\n"


def test_a_failing_vector_also_names_the_batch_engine(tmp_path):
    from hil.paths import FIXTURES

    vectors = json.loads((FIXTURES / "vectors" / "sts-vectors.json").read_text())
    broken = next(v for v in vectors if v["kind"] == "credit")
    broken["outputs"]["token"] = "0" * 20
    path = tmp_path / "v.json"
    path.write_text(json.dumps([broken]))
    result = CliRunner().invoke(main, ["vectors", "check", str(path)])
    assert result.exit_code == 1
    assert "token (batch engine): expected 00000000000000000000, computed" in result.output
