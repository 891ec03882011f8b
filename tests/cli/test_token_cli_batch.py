"""``hil token batch`` and the small fixes of issue 12 to ``hil token encode/decode``."""

import json

import click
import pytest
from click.testing import CliRunner

from hil.cli import main
from hil.rig.meter_spec import MeterSpec
from hil.sts import codec
from hil.sts.sample_keys import TEST_METER
from hil.sts.tokens import ClearCreditToken, CreditToken, MaxPowerLimitToken


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(main, [str(a) for a in args], input=input)

    return invoke


@pytest.fixture(scope="module")
def test_key():
    """The built-in test meter's decoder key (test material), to check tokens with."""
    return MeterSpec.model_validate(dict(TEST_METER)).load_decoder_key()


def test_count_mode_makes_consecutive_tids(run, test_key):
    result = run("token", "batch", "--count", 5, "--start-tid", 1000, "--amount", "12.5")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "line,meter,type,class,subclass,tid,rnd,amount,unit,token"
    rows = [line.split(",") for line in lines[1:]]
    assert [int(r[5]) for r in rows] == [1000, 1001, 1002, 1003, 1004]
    assert {r[7] for r in rows} == {"12.5"} and {r[8] for r in rows} == {"kWh"}
    assert [r[9] for r in rows] == [
        codec.encode(CreditToken(1000 + i, 0, 125), test_key) for i in range(5)
    ]
    assert "test material" in result.stderr


def test_csv_rows_of_several_types_and_meters(run, tmp_path, test_key):
    source = tmp_path / "in.csv"
    source.write_text(
        "meter,type,amount,units,watts,value,tid,rnd\n"
        ",credit,25.6,,,,100,3\n"
        ",power-limit,,,5000,,101,\n"
        ",clear-credit,,,,all,102,\n"
        "01000000008,credit,1,,,,104,\n"
    )
    result = run("token", "batch", source, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in rows] == [2, 3, 4, 5]
    assert rows[0]["amount"] == 25.6 and rows[0]["unit"] == "kWh"
    assert rows[1]["amount"] == 5000 and rows[1]["unit"] == "W"
    assert rows[2]["register"] == 65535
    assert rows[0]["token"] == codec.encode(CreditToken(100, 3, 256), test_key)
    assert rows[1]["token"] == codec.encode(MaxPowerLimitToken(101, 0, 5000), test_key)
    assert rows[2]["token"] == codec.encode(ClearCreditToken(102, 0, 0xFFFF), test_key)
    # Another meter: its own key, derived from the same vending key.
    assert rows[3]["meter"] == "600727010000000081"
    other = json.loads(
        run("token", "decode", rows[3]["token"], "--pan", "01000000008", "--json").stdout
    )
    assert other["tid"] == 104 and other["crc"] == "ok"


def test_jsonl_from_stdin_to_a_file(run, tmp_path):
    out = tmp_path / "tokens.jsonl"
    rows = '{"units": 7, "time": "2024-05-01T10:30Z"}\n{"type": "clear-tamper", "tid": 9}\n'
    result = run("token", "batch", "-", "--out", out, input=rows)
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert written[0]["tid"] == 5433750 and written[1]["type"] == "clear-tamper"
    again = run("token", "batch", "-", "--out", out, input=rows)
    assert again.exit_code == 2 and "exists: not overwritten (add --force" in again.output
    assert run("token", "batch", "-", "--out", out, "--force", input=rows).exit_code == 0


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("type,amount,tid\ncredit,abc,1\n", "stdin line 2: amount 'abc' must be a number of kWh"),
        (
            "type,amount,tid\ncredit,-5,1\n",
            "stdin line 2: amount -5 kWh is outside 0..1820162.4 kWh",
        ),
        ("type,amnt,tid\ncredit,1,1\n", "stdin line 1: unknown column 'amnt'"),
        ("amount,tid\n1,\n", "stdin line 2: give tid or time"),
        ("amount,tid,meter\n1,1,600727000000000008\n", "stdin line 2: MeterPAN 600727000000000008"),
        ("type,tid\nkey-change,1\n", "stdin line 2: type 'key-change' is unknown"),
        ('{"amount": 1, "tid": 5916090}\n{"amount": 1}\n', "stdin line 2: give tid or time"),
        ("{nope\n", "stdin line 1: not valid JSON"),
        ("", "stdin: no rows"),
    ],
)
def test_bad_rows_are_one_line_errors_with_the_line(run, rows, message):
    result = run("token", "batch", "-", input=rows)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("error:") == 1 and "Traceback" not in result.output


def test_key_expiry_names_the_line_and_a_bad_file_writes_nothing(run, tmp_path):
    out = tmp_path / "out.csv"
    rows = "amount,tid\n1,100\n1,5916090\n"
    result = run("token", "batch", "-", "--ken", 85, "--out", out, input=rows)
    assert result.exit_code == 2
    assert "stdin line 3: key expired: TID 5916090 has top byte 90 > KEN 85" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give an input FILE"),
        (["--count", 3], "--count needs --start-tid"),
        (["--count", 3, "--start-tid", 1], "--amount (e.g. 25.6) or --units"),
        (["--count", 3, "--start-tid", 16777214, "--units", 1], "past the last TID 16777215"),
        (["--count", 3, "--start-tid", 1, "--amount", "-5"], "-5 kWh is outside"),
        (["-", "--amount", "1"], "go with --count"),
    ],
)
def test_bad_options_are_one_line_errors(run, args, message):
    result = run("token", "batch", *args, input="")
    assert result.exit_code == 2 and message in result.stderr


def test_progress_bar_for_large_counts(run):
    result = run("token", "batch", "--count", 20000, "--start-tid", 1, "--units", 1, "--progress")
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 20001
    assert "encoding" in result.stderr


def test_amount_errors_speak_kwh(run):
    result = run("token", "encode", "credit", "--amount", "-5", "--tid", 1)
    assert result.exit_code == 2
    assert "--amount -5 kWh is outside 0..1820162.4 kWh" in result.stderr
    assert "units" not in result.stderr
    water = run("token", "encode", "credit", "--amount", "-5", "--kind", "water", "--tid", 1)
    assert "--amount -5 m3 is outside" in water.stderr
    units = run("token", "encode", "credit", "--units", "-5", "--tid", 1)
    assert "0..1820162.4 kWh" in units.stderr


def test_json_numbers_carry_units(run):
    credit = json.loads(
        run("token", "encode", "credit", "--amount", "12.5", "--tid", 1, "--json").stdout
    )
    assert credit["amount"] == 12.5 and credit["unit"] == "kWh"
    limit = json.loads(
        run("token", "encode", "power-limit", "--watts", 5000, "--tid", 1, "--json").stdout
    )
    assert limit["watts"] == 5000 and limit["unit"] == "W"
    text = run("token", "encode", "credit", "--amount", "12.5", "--tid", 1).stdout
    assert "amount          12.5 kWh" in text


def test_decode_says_the_crc_checked_out(run):
    digits = json.loads(
        run("token", "encode", "credit", "--units", 5, "--tid", 9, "--json").stdout
    )["token"]
    text = run("token", "decode", digits)
    assert (
        text.exit_code == 0
        and "crc             ok" in text.stdout
        and "CRC checked out" in text.stdout
    )
    assert json.loads(run("token", "decode", digits, "--json").stdout)["crc"] == "ok"
    test = json.loads(run("token", "encode", "test", "--json").stdout)["token"]
    assert "class 1: not encrypted" in run("token", "decode", test).stdout


def _commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


@pytest.mark.parametrize("group", ["token", "key", "vectors"])
def test_every_option_has_help(group):
    missing = [
        f"{name} {option.opts[0]}"
        for name, command in _commands(main.commands[group])
        for option in command.params
        if isinstance(option, click.Option) and not option.help
    ]
    assert missing == []
