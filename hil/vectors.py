"""Known-answer vector checking (format: docs/vectors.md).

Pure: takes the parsed JSON list and the STA tables to use; the CLI does the file I/O.
Every vector ends as pass, fail (with each differing output) or skip (with a reason);
a vector this checker does not understand is a skip, never a silent pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hil.sts import codec
from hil.sts.crc import crc16_register, crc_field
from hil.sts.digits import insert_class, to_digits
from hil.sts.dkga import control_block, derive_decoder_key, pan_block, pan_block_from
from hil.sts.ea07 import SAMPLE_TABLES, StaTables
from hil.sts.errors import KeyExpiredError, StsError
from hil.sts.identity import MeterPan
from hil.sts.keychange import key_change_set
from hil.sts.keys import DecoderKey, KeyInfo
from hil.sts.luhn import luhn_check_digit
from hil.sts.misty1 import Misty1
from hil.sts.tokens import (
    ClearCreditToken,
    ClearTamperToken,
    CreditToken,
    MaxPowerLimitToken,
    MeterTestToken,
    PhaseUnbalanceLimitToken,
    Token,
)


@dataclass
class VectorResult:
    id: str
    kind: str
    status: str = "pass"  # pass | fail | skip
    reason: str = ""
    diffs: list[tuple[str, str, str]] = field(default_factory=list)  # (output, expected, computed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "reason": self.reason,
            "diffs": [{"output": o, "expected": e, "computed": c} for o, e, c in self.diffs],
        }


class _Skip(Exception):
    pass


class _Check:
    """Collects expected-vs-computed comparisons for one vector."""

    def __init__(self, result: VectorResult) -> None:
        self.result = result

    def eq(self, name: str, expected: Any, computed: Any) -> None:
        if isinstance(expected, str) and isinstance(computed, str):
            same = expected.strip().upper() == computed.strip().upper()
        else:
            same = expected == computed
        if not same:
            self.result.diffs.append((name, str(expected), str(computed)))

    def hex(self, name: str, outputs: dict, computed: int | bytes, digits: int) -> None:
        if name in outputs:
            text = computed.hex() if isinstance(computed, bytes) else f"{computed:0{digits}X}"
            self.eq(name, outputs[name], text)


def _key_info(spec: dict) -> KeyInfo:
    dkga = int(spec.get("dkga", "02"))
    return KeyInfo(
        sgc=int(spec["sgc"]),
        ti=int(spec["ti"]),
        krn=int(spec["krn"]),
        kt=int(spec["kt"]),
        ken=int(spec.get("ken", 255)),
        ea=int(spec.get("ea", "07")),
        dkga=dkga,
        base_year=int(spec.get("base_date_for_dkga04", 1993)),
    )


def _decoder_key(spec: dict, tables: StaTables | None, check: _Check, out_name: str) -> DecoderKey:
    if "vk" not in spec:
        raise _Skip("key has no vending key (vk)")
    info = _key_info(spec)
    if info.ea == 7 and tables is None:
        raise _Skip("EA07 vector: pass --sta-tables FILE (or set HIL_STA_TABLES) for its tables")
    vending_key, pan = bytes.fromhex(spec["vk"]), MeterPan(spec["pan"])
    value = derive_decoder_key(vending_key, pan, info)
    check.hex(out_name, check_outputs(check), value, len(value) * 2)
    if info.dkga in (2, 4):  # the batch engine derives these two itself; the others loop
        from hil.sts.batch import derive_many  # numpy: imported when vectors are checked

        batch_value = derive_many(vending_key, [pan], info).values[0].tobytes()
        check.eq(f"{out_name} (batch engine)", value.hex(), batch_value.hex())
    return DecoderKey(value, info.ea, tables or SAMPLE_TABLES)


def check_outputs(check: _Check) -> dict:
    return check.outputs  # type: ignore[attr-defined]


def _token_for(kind: str, inputs: dict, subclass: int) -> Token:
    tid, rnd = int(inputs.get("tid", 0)), int(inputs.get("rnd", 0))
    if kind == "credit":
        return CreditToken(tid, rnd, int(inputs["amount_units_0_1"]), subclass)
    if kind == "mpl":
        return MaxPowerLimitToken(tid, rnd, int(inputs["value_watts"]))
    if kind == "mppul":
        return PhaseUnbalanceLimitToken(tid, rnd, int(inputs["value_watts"]))
    if kind == "clear_credit":
        return ClearCreditToken(tid, rnd, int(inputs["register_hex"], 16))
    if kind == "clear_tamper":
        return ClearTamperToken(tid, rnd, int(inputs.get("field16_hex", "0"), 16))
    raise _Skip(f"unknown token kind {kind!r}")


_KCT_SECTION = {"kct1": 0, "kct2": 1, "kct3": 2, "kct4": 3}


def _check_token(
    token: Token, key: DecoderKey | None, check: _Check, outputs: dict, ken: int = 255
) -> None:
    block = codec.data_block(token)
    check.hex("data_block_hex", outputs, block, 16)
    encrypted = block if key is None else key.encrypt_block(block)
    check.hex("encrypted_block_hex", outputs, encrypted, 16)
    check.hex("token66_hex", outputs, insert_class(encrypted, token.token_class), 17)
    digits = codec.encode(token, key, ken)
    check.eq("token", outputs.get("token", digits), digits)
    _check_batch(token, key, check, outputs.get("token", digits), block, ken)
    # Decode the expected token back: it must give the same fields.
    decoded = codec.decode(outputs.get("token", digits), key)
    check.eq(
        "decoded class/subclass",
        (token.token_class, token.subclass),
        (decoded.token_class, decoded.token.subclass),
    )
    check.hex("decoded data block", {"decoded data block": f"{block:016X}"}, decoded.data_block, 16)


def _check_batch(
    token: Token, key: DecoderKey | None, check: _Check, expected: str, block: int, ken: int
) -> None:
    """The same token through the batch engine: a lab's vectors check both engines."""
    from hil.sts.batch import TokenFields, decode_many, encode_many  # numpy: imported on use

    digits = encode_many(key, TokenFields.of([token]), ken=ken)
    check.eq("token (batch engine)", expected, str(digits[0]))
    decoded = decode_many(key, [expected])
    if not decoded.ok[0]:
        error = decoded.error(0)
        check.eq("decoded (batch engine)", "ok", f"{type(error).__name__}: {error}")
        return
    check.eq("decoded data block (batch engine)", block, int(decoded.data_block[0]))


def _run_one(vector: dict, tables: StaTables | None, check: _Check) -> None:
    kind, inputs, outputs = vector.get("kind"), vector.get("inputs"), vector.get("outputs", {})
    check.outputs = outputs  # type: ignore[attr-defined]
    if kind == "sta_sample_example":
        key = DecoderKey.from_hex(inputs["decoder_key_hex"], 7, SAMPLE_TABLES)
        token = CreditToken(int(inputs["tid"]), int(inputs["rnd"]), 0, int(inputs["subclass"]))
        body = token.subclass << 44 | token.rnd << 40 | token.tid << 16
        body |= int(inputs["amount_field_hex"], 16)
        check.hex("crc_field_hex", outputs, crc_field(int(inputs["class"]), body), 4)
        block = body << 16 | crc_field(int(inputs["class"]), body)
        check.hex("data_block_hex", outputs, block, 16)
        enc = key.encrypt_block(block)
        check.hex("encrypted_block_hex", outputs, enc, 16)
        check.hex("token66_hex", outputs, insert_class(enc, 0), 17)
        check.eq("token", outputs["token"], to_digits(insert_class(enc, 0)))
        check.hex(
            "decoded data block",
            {"decoded data block": f"{block:016X}"},
            codec.decode(outputs["token"], key).data_block,
            16,
        )
    elif kind == "crc":
        if "crc_input_7_bytes_hex" in inputs:
            data = bytes.fromhex(inputs["crc_input_7_bytes_hex"])
            reg = crc16_register(data)
            check.hex("crc_register_hex", outputs, reg, 4)
            check.hex("crc_field_as_stored_hex", outputs, (reg & 0xFF) << 8 | reg >> 8, 4)
        else:
            body = (
                int(inputs["subclass"]) << 44
                | int(inputs["rnd"]) << 40
                | int(inputs["tid"]) << 16
                | int(inputs["amount_field_hex"], 16)
            )
            crc = crc_field(int(inputs["class"]), body)
            check.hex("crc_field_as_stored_hex", outputs, crc, 4)
            check.hex("data_block_hex", outputs, body << 16 | crc, 16)
    elif kind == "dk":
        info = _key_info(inputs)
        pan = MeterPan(inputs["pan"])
        check.hex(
            "pan_block_hex",
            {"pan_block_hex": inputs.get("pan_block_hex", "")} if "pan_block_hex" in inputs else {},
            pan_block(pan, info.kt),
            16,
        )
        check.hex(
            "control_block_hex",
            {"control_block_hex": inputs["control_block_hex"]}
            if "control_block_hex" in inputs
            else {},
            control_block(info),
            16,
        )
        dk = derive_decoder_key(bytes.fromhex(inputs["vk"]), pan, info)
        check.hex("decoder_key_hex", outputs, dk, 16)
    elif kind == "dk_part":
        if isinstance(inputs, dict):
            info = KeyInfo(
                sgc=int(inputs["sgc"]),
                ti=int(inputs["ti"]),
                krn=int(inputs["krn"]),
                kt=int(inputs["kt"]),
            )
            check.hex("control_block_hex", outputs, control_block(info), 16)
        else:
            for i, (item, expected) in enumerate(zip(inputs, outputs["pan_blocks"], strict=True)):
                block = pan_block_from(item["iin"], item.get("iain"), int(item["kt"]))
                check.eq(f"pan_blocks[{i}]", expected, block.hex())
    elif kind == "luhn":
        computed = [luhn_check_digit(n if len(n) < 17 else n[:-1]) for n in inputs]
        for name, expected in outputs.items():
            if name.startswith("drn_check_digit"):
                drns = [MeterPan(n).drn for n in inputs]
                check.eq(name, expected, [luhn_check_digit(d[:-1]) for d in drns])
            else:
                check.eq(name, expected, computed)
    elif kind == "misty1":
        cipher = Misty1(bytes.fromhex(inputs["key_hex"]))
        got = [f"{cipher.encrypt_block(int(p, 16)):016x}" for p in inputs["plaintexts"]]
        check.eq("ciphertexts", [c.lower() for c in outputs["ciphertexts"]], got)
    elif kind == "negative":
        ken = int(inputs["key"]["ken"])
        try:
            codec.check_not_expired(CreditToken(int(inputs["tid"]), 0, 0), ken)
            check.eq("generation", "refused (key expired)", "token generated")
        except KeyExpiredError:
            pass
    elif kind == "class1":
        token = MeterTestToken(
            int(inputs["control_hex"], 16),
            int(inputs["mfrcode"]),
            int(inputs["mfrcode_bits"]) == 16,
        )
        _check_token(token, None, check, outputs)
    elif kind in _KCT_SECTION:
        key = _decoder_key(inputs["key"], tables, check, "decoder_key_hex")
        new = inputs["new_key"]
        new_info = _key_info(new)
        new_value = derive_decoder_key(bytes.fromhex(new["vk"]), MeterPan(new["pan"]), new_info)
        check.hex("new_decoder_key_hex", outputs, new_value, len(new_value) * 2)
        sgc = int(inputs.get("sgc_field", new["sgc"]))
        ti = int(inputs.get("ti_field", new["ti"]))
        # The vector may state KENHO/KENLO explicitly; they override the new key's KEN.
        ken = int(inputs.get("kenho", new_info.ken >> 4)) << 4 | int(
            inputs.get("kenlo", new_info.ken & 15)
        )
        sections = key_change_set(
            new_value,
            ken=ken,
            krn=new_info.krn,
            kt=new_info.kt,
            ti=ti,
            sgc=sgc,
            rollover=bool(int(inputs.get("ro", 0))),
        )
        _check_token(sections[_KCT_SECTION[kind]], key, check, outputs)
    elif kind in ("credit", "mpl", "mppul", "clear_credit", "clear_tamper"):
        key = _decoder_key(inputs["key"], tables, check, "decoder_key_hex")
        subclass = int(inputs.get("token_subclass", vector.get("token_subclass", 0)))
        token = _token_for(kind, inputs, subclass)
        if "field16_hex" in inputs and hasattr(token, "field16"):
            check.hex("field16_hex", {"field16_hex": inputs["field16_hex"]}, token.field16(), 4)
        _check_token(token, key, check, outputs, int(inputs["key"].get("ken", 255)))
    else:
        raise _Skip(f"unknown vector kind {kind!r}")


def check_vector(vector: dict, tables: StaTables | None = None) -> VectorResult:
    """Check one vector; ``tables`` are the EA07 tables for non-sample EA07 vectors."""
    result = VectorResult(str(vector.get("id", "?")), str(vector.get("kind", "?")))
    try:
        _run_one(vector, tables, _Check(result))
    except _Skip as skip:
        result.status, result.reason = "skip", str(skip)
        return result
    except (StsError, KeyError, ValueError, TypeError) as exc:
        name = exc.__class__.__name__
        result.diffs.append(("(error)", "no error", f"{name}: {exc}"))
    if result.diffs:
        result.status = "fail"
    return result


def check_vectors(
    vectors: Iterable[dict],
    tables: StaTables | None = None,
    progress: Callable[[VectorResult], None] | None = None,
) -> list[VectorResult]:
    results = []
    for vector in vectors:
        result = check_vector(vector, tables)
        results.append(result)
        if progress:
            progress(result)
    return results


def summary_line(results: list[VectorResult]) -> str:
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "skip")}
    return f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped"
