"""``hil key derive``: --out never replaces a file unasked; test keys per DKGA (issue 12)."""

import pytest
from click.testing import CliRunner

from hil.cli import main


@pytest.fixture
def run():
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args])


def test_out_refuses_to_overwrite_without_force(run, tmp_path):
    out = tmp_path / "dk.hex"
    out.write_text("another key\n")
    result = run("key", "derive", "--out", out)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {out} exists: not overwritten (add --force to replace it)"
    )
    assert out.read_text() == "another key\n"
    out.chmod(0o644)
    forced = run("key", "derive", "--base-date", "1993", "--out", out, "--force")
    assert forced.exit_code == 0, forced.output
    assert out.read_text().strip() == "F94B6ED353C3BFDB113E2D3A7EA3C41D"
    assert out.stat().st_mode & 0o077 == 0  # owner-only, even for a file that was 644


@pytest.mark.parametrize(("dkga", "bits"), [(1, 64), (3, 128)])
def test_built_in_test_key_does_not_fit_dkga01_or_03(run, dkga, bits):
    result = run("key", "derive", "--dkga", dkga, "--ea", "07")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert f"there is no public DKGA0{dkga} test key" in result.stderr
    assert f"give a {bits}-bit vending key with --vk-env VAR or --vk-file FILE" in result.stderr


def test_dkga02_takes_the_dkga02_test_key(run):
    result = run("key", "derive", "--dkga", "2", "--ea", "07", "--reveal")
    assert result.exit_code == 0, result.output
    assert "dkga       02" in result.stdout and "test material" in result.stderr


def test_a_given_vending_key_is_used_for_dkga01(run, monkeypatch):
    monkeypatch.setenv("LAB_VK_01", "ABABABABABABABAB")
    result = run("key", "derive", "--dkga", "1", "--ea", "07", "--vk-env", "LAB_VK_01")
    assert result.exit_code == 0, result.output
    assert "unverified" in result.stderr
