"""The token, key and vectors commands as a user runs them."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from hil.cli import main
from hil.paths import FIXTURES

VECTORS = FIXTURES / "vectors" / "sts-vectors.json"


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args, env=None):
        return runner.invoke(main, [str(a) for a in args], env=env)

    return invoke


def test_vectors_check_all_pass(run):
    result = run("vectors", "check", VECTORS)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "52 passed, 0 failed, 0 skipped"


def test_vectors_check_reports_a_failure_with_expected_and_computed(run, tmp_path):
    vectors = json.loads(VECTORS.read_text())
    broken = next(v for v in vectors if v["kind"] == "credit")
    broken["outputs"]["token"] = "00000000000000000000"
    path = tmp_path / "v.json"
    path.write_text(json.dumps([broken, {"id": "x", "kind": "martian"}]))
    out = tmp_path / "out.json"
    result = run("vectors", "check", path, "--json", out)
    assert result.exit_code == 1
    assert f"FAIL {broken['id']}: token: expected 00000000000000000000, computed" in result.output
    assert "SKIP x: unknown vector kind 'martian'" in result.output
    assert result.output.strip().splitlines()[-1] == "0 passed, 1 failed, 1 skipped"
    assert json.loads(out.read_text())["summary"] == "0 passed, 1 failed, 1 skipped"


def test_ea07_vector_without_tables_is_skipped_with_the_fix(run, tmp_path):
    vector = {
        "id": "lab-1",
        "kind": "credit",
        "token_subclass": 0,
        "inputs": {
            "key": {
                "dkga": "02",
                "ea": "07",
                "vk": "ABABABABABABABAB",
                "sgc": "123456",
                "ti": "01",
                "krn": 1,
                "kt": 2,
                "ken": 255,
                "pan": "600727000000000009",
            },
            "tid": 1,
            "rnd": 5,
            "amount_units_0_1": 1,
        },
        "outputs": {"token": "1" * 20},
    }
    path = tmp_path / "v.json"
    path.write_text(json.dumps([vector]))
    result = run("vectors", "check", path, env={"HIL_STA_TABLES": ""})
    assert "SKIP lab-1: EA07 vector: pass --sta-tables FILE" in result.output
    assert result.exit_code == 0


def test_vectors_check_bad_file_is_one_line(run, tmp_path):
    path = tmp_path / "v.json"
    path.write_text("{")
    result = run("vectors", "check", path)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "not valid JSON" in result.output


def test_encode_then_decode_credit(run):
    result = run(
        "token", "encode", "credit", "--amount", "25.6", "--at", "2024-05-01T10:30Z", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["amount"] == 25.6 and data["unit"] == "kWh"
    assert data["tid"] == 5433750  # minutes since 2014-01-01
    decoded = run("token", "decode", data["token"], "--json")
    assert json.loads(decoded.stdout)["tid"] == 5433750
    assert "test material" in decoded.stderr


def test_decode_typo_is_crc_error(run):
    digits = json.loads(
        run("token", "encode", "credit", "--units", "5", "--tid", "99", "--json").stdout
    )["token"]
    typo = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    result = run("token", "decode", typo)
    assert result.exit_code == 2
    assert "error: token fails its CRC" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["token", "decode", "1234"], "has 4 digits"),
        (["token", "encode", "credit", "--amount", "1.25"], "finer than 0.1"),
        (["token", "encode", "credit"], "--amount"),
        (
            ["token", "encode", "credit", "--units", "1", "--pan", "600727000000000008"],
            "check digit",
        ),
        (
            ["token", "encode", "credit", "--units", "1", "--tid", "5916090", "--ken", "85"],
            "key expired",
        ),
        (
            [
                "token",
                "encode",
                "credit",
                "--units",
                "1",
                "--tid",
                "1",
                "--vk-env",
                "HIL_TEST_NO_SUCH_VAR",
            ],
            "HIL_TEST_NO_SUCH_VAR is not set",
        ),
        (["token", "encode", "credit", "--units", "1", "--at", "yesterday"], "ISO 8601"),
        (["token", "encode", "credit", "--units", "1", "--base-date", "1993"], "past the last TID"),
    ],
)
def test_bad_input_gets_one_line_error(run, args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_every_token_type_encodes(run):
    for args in (
        ["power-limit", "--watts", "5000"],
        ["clear-credit", "--register", "all"],
        ["tariff-rate", "--rate", "7"],
        ["clear-tamper"],
        ["phase-unbalance", "--watts", "100"],
        ["water-factor", "--factor", "3"],
        ["credit", "--units", "10", "--kind", "water"],
        ["test", "--test", "display"],
    ):
        result = (
            run("token", "encode", *args, "--tid", "100", "--json")
            if args[0] != "test"
            else run("token", "encode", *args, "--json")
        )
        assert result.exit_code == 0, (args, result.output)
        digits = json.loads(result.stdout)["token"]
        assert run("token", "decode", digits).exit_code == 0


def test_key_change_set_never_prints_key_words(run):
    result = run(
        "token",
        "encode",
        "key-change",
        "--new-krn",
        "2",
        "--new-base-date",
        "2014",
        "--rollover",
        "--json",
    )
    assert result.exit_code == 0, result.output
    sections = json.loads(result.stdout)
    assert [s["subclass"] for s in sections] == [3, 4, 8, 9]
    assert all(s["key_word"] == "<secret>" for s in sections)
    assert sections[0]["ro"] == 1


def test_key_derive_shows_fingerprint_not_key(run, tmp_path):
    result = run("key", "derive")
    assert result.exit_code == 0
    assert "F94B6ED3" not in result.output.upper()
    assert "key check" in result.output
    out = tmp_path / "dk.hex"
    run("key", "derive", "--base-date", "1993", "--out", out)
    assert out.read_text().strip() == "F94B6ED353C3BFDB113E2D3A7EA3C41D"
    assert out.stat().st_mode & 0o077 == 0


def test_meter_file_and_env_key(run, tmp_path):
    meter = tmp_path / "meter.yaml"
    meter.write_text(
        "meter:\n  pan: '600727000000000009'\n  sgc: 123457\n  ti: 1\n  krn: 1\n"
        "  vending_key: {env: LAB_VK}\n"
    )
    env = {"LAB_VK": "ABABABABABABABAB949494949494949401234567"}
    result = run("key", "derive", "--meter", meter, "--reveal", env=env)
    assert "F94B6ED353C3BFDB113E2D3A7EA3C41D" in result.output


def test_meter_file_inline_key_must_be_marked_test(run, tmp_path):
    meter = tmp_path / "meter.yaml"
    meter.write_text(
        "pan: '600727000000000009'\nsgc: 1\nti: 1\nkrn: 1\n"
        "vending_key: {hex: ABABABABABABABAB949494949494949401234567}\n"
    )
    result = run("key", "derive", "--meter", meter)
    assert result.exit_code == 2
    assert "vending_key: inline hex key is allowed only for test material" in result.output.replace(
        "an inline", "inline"
    )


def test_installed_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "hil", "vectors", "check", str(VECTORS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("52 passed, 0 failed, 0 skipped")
