"""The HTML compliance report: one self-contained file (inline CSS, JS and SVG; no network).

Everything from the record is escaped by Jinja2's autoescape; the SVG plots are built here
from escaped text and passed to the template as ``Markup``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from html import escape
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from hil.report.lab import credit_registers, load_standards
from hil.report.record import EXIT_STATUS, RunRecord, StepRecord, TestRecord

TEMPLATES = Path(__file__).parent / "templates"

VERDICT_WORDS = {
    "pass": "PASS",
    "fail": "FAIL",
    "error": "ERROR",
    "skip": "SKIP",
    "not_run": "NOT RUN",
    "incomplete": "INCOMPLETE",
    "not_applicable": "N/A",
    "not_covered": "NOT COVERED",
}
VERDICT_SYMBOLS = {"pass": "✓", "fail": "✗", "error": "!", "skip": "–", "not_run": "·",
                   "incomplete": "…", "not_applicable": "–", "not_covered": "○"}  # fmt: skip
# What the meter reports over the probe (INFO), in words; unknown keys are spelt out.
PROBE_LABELS = {
    "protocol": "Probe protocol version",
    "mfr_code": "Manufacturer code (MfrCode)",
    "tid_mem_depth": "TID memory depth",
    "model": "Meter model",
    "manufacturer": "Meter manufacturer",
    "hardware": "Hardware version",
}
FEATURE_LABELS = {
    "keypad": "keypad entry",
    "virtual_carrier": "virtual token carrier",
    "power_control": "supply switching",
    "load_control": "load control",
    "relay_sensing": "relay sensing",
    "fault_injection": "fault injection",
}
FRONTENDS = {"pytest": "pytest suites", "robot": "Robot Framework suites"}
ROLE_LABELS = {"ac_source": "AC source", "dmm": "DMM", "load": "electronic load"}
COLOURS = {
    "pass": "#1a7f37",
    "fail": "#cf222e",
    "error": "#b35900",
    "skip": "#6e7781",
    "not_run": "#6e7781",
    "relay": "#2da44e",
    "credit": "#0969da",
    "grid": "#d8dee4",
    "axis": "#57606a",
    "band": "#f3f5f8",
}


# --- formatting helpers (template filters) ----------------------------------------------


def group_token(digits: str) -> str:
    """20 token digits as 4-4-4-4-4."""
    digits = digits.strip()
    if len(digits) == 20 and digits.isdigit():
        return " ".join(digits[i : i + 4] for i in range(0, 20, 4))
    return digits


def fmt_time(value: datetime | None, with_date: bool = True) -> str:
    if value is None:
        return "—"
    text = value.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")
    if value.microsecond and not with_date:
        text += f".{value.microsecond // 1000:03d}"
    offset = value.utcoffset()
    return text + (" UTC" if offset is not None and not offset.total_seconds() else "")


def fmt_seconds(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if value >= 120:
        minutes, seconds = divmod(value, 60)
        if minutes >= 60:
            hours, minutes = divmod(minutes, 60)
            return f"{int(hours)} h {int(minutes):02d} min"
        return f"{int(minutes)} min {int(seconds):02d} s"
    return f"{value:.{digits}f} s"


def fmt_kwh(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


_UNITS = {"kwh": "kWh", "wh": "Wh", "s": "s", "ms": "ms", "w": "W", "v": "V", "a": "A"}


def probe_label(key: str) -> str:
    """``tid_mem_depth`` -> "TID memory depth"; a unit suffix in brackets (``_kwh`` ->
    "(kWh)"); keys not in PROBE_LABELS are spelt out."""
    if key in PROBE_LABELS:
        return PROBE_LABELS[key]
    words = key.split("_")
    unit = _UNITS.get(words[-1].lower()) if len(words) > 1 else None
    text = " ".join(words[:-1] if unit else words).capitalize()
    return f"{text} ({unit})" if unit else text


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role.replace("_", " "))


def feature_words(features: Sequence[str]) -> str:
    return ", ".join(FEATURE_LABELS.get(f, f.replace("_", " ")) for f in features) or "—"


_CREDIT_LABEL = re.compile(r"credit (?P<amount>[-\d.]+) \(subclass (?P<sub>\d+)\)")


def step_label(step: StepRecord) -> str:
    """A credit token's label with its register and unit ("water credit 10 m³"); other
    labels as the test wrote them."""
    match = _CREDIT_LABEL.fullmatch(step.label.strip())
    if step.token_class == 0 and match:
        register = credit_registers().get(int(match["sub"]))
        if register is not None:
            return f"{register.name} credit {match['amount']} {register.unit}"
    return step.label


def fmt_class(step: StepRecord) -> str:
    if step.token_class is None:
        return "—"
    return f"{step.token_class}/{'—' if step.subclass is None else step.subclass}"


# --- the SVG plot ------------------------------------------------------------------------


@dataclass
class _Point:
    t0: float  # entry start, seconds from the plot origin
    t: float  # result
    before: float | None
    after: float | None
    expected: float | None
    relay: str
    step: StepRecord


@dataclass
class _Series:
    test: TestRecord
    anchor: str
    points: list[_Point]


def _nice_step(span: float, target: int) -> float:
    raw = span / max(1, target)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * power:
            return mult * power
    return 10 * power


def _ticks(lo: float, hi: float, target: int) -> list[float]:
    step = _nice_step(hi - lo, target)
    first = math.ceil(lo / step - 1e-9) * step
    out, value = [], first
    while value <= hi + 1e-9:
        out.append(round(value, 10))
        value += step
    return out


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))


class _CreditScale:
    """Linear credit axis, or a symmetric log axis when a few values dwarf the rest (an
    overflow test's huge credit would flatten every other test into the zero line)."""

    def __init__(self, values: Sequence[float]) -> None:
        positive = sorted(abs(v) for v in values if abs(v) > 0)
        hi = max([*values, 0.0])
        lo = min([*values, 0.0])
        # the median credit: amount-boundary tests spread credits over six decades, and a
        # shared axis must not flatten the parts whose credits are all small
        typical = positive[len(positive) // 2] if positive else 0.0
        self.log = hi > 1000 and hi > 50 * max(typical, 1.0) and lo >= -1
        if self.log:
            top = 10 ** math.ceil(math.log10(hi))
            self.ticks = [0.0] + [10.0**k for k in range(0, round(math.log10(top)) + 1)]
            self.lo, self.hi = self._f(0.0), self._f(top)
        else:
            if hi - lo < 1e-9:
                hi = lo + 1.0
            self.ticks = _ticks(lo, hi * 1.05, 5)
            self.lo = min(self.ticks[0], lo)
            self.hi = max(self.ticks[-1], hi)

    def _f(self, value: float) -> float:
        if not self.log:
            return value
        return math.copysign(math.log10(1 + abs(value)), value)

    def unit(self, value: float) -> float:
        """0 at the bottom of the axis, 1 at the top (``lo``/``hi`` are on the axis scale)."""
        return (self._f(value) - self.lo) / (self.hi - self.lo)

    def label(self, value: float) -> str:
        if self.log and value >= 1_000_000:
            return f"{_num(value / 1_000_000)}M"
        if self.log and value >= 1000:
            return f"{_num(value / 1000)}k"
        return _num(value)


def _entry_start(step: StepRecord) -> datetime | None:
    if step.at is None:
        return None
    return step.at - timedelta(seconds=step.elapsed_s or 0.0)


def _credits(tests: Sequence[TestRecord]) -> list[float]:
    """Every credit a plot of ``tests`` draws (before, after, a conforming meter's)."""
    out = []
    for test in tests:
        for step in test.steps:
            if step.at is None or step.credit_kwh is None:
                continue
            out.append(step.credit_kwh)
            if step.observed_credit_delta_kwh is not None:
                before = step.credit_kwh - step.observed_credit_delta_kwh
                out.append(before)
                if step.expected_credit_delta_kwh is not None:
                    out.append(before + step.expected_credit_delta_kwh)
    return out


def credit_scale(tests: Sequence[TestRecord]) -> _CreditScale:
    """One credit axis for several plots, so the pytest and Robot parts read alike."""
    return _CreditScale(_credits(tests))


def _series(
    tests: Sequence[TestRecord], anchors: dict[str, str], origin: datetime
) -> list[_Series]:
    out = []
    for test in tests:
        points = []
        for step in test.steps:
            if step.at is None:
                continue
            t = (step.at - origin).total_seconds()
            elapsed = step.elapsed_s or 0.0
            before = after = expected = None
            if step.credit_kwh is not None:
                after = step.credit_kwh
                if step.observed_credit_delta_kwh is not None:
                    before = after - step.observed_credit_delta_kwh
                    if step.expected_credit_delta_kwh is not None:
                        expected = before + step.expected_credit_delta_kwh
            points.append(
                _Point(t - elapsed, t, before, after, expected, step.observed_relay, step)
            )
        if points:
            out.append(_Series(test, anchors.get(test.nodeid, ""), points))
    return out


def _legend(width: int, left: int, right: int) -> tuple[str, int]:
    """The plot's legend as SVG, wrapped into rows to fit; and how many rows it took."""
    items = [
        (
            f'<line x1="0" x2="16" y1="0" y2="0" stroke="{COLOURS["credit"]}" stroke-width="2"/>',
            "electricity credit after each token",
        ),
        (f'<circle cx="8" cy="0" r="4" fill="{COLOURS["fail"]}"/>', "non-conforming result"),
        (
            f'<circle cx="8" cy="0" r="4.5" fill="#fff" stroke="{COLOURS["fail"]}"/>',
            "conforming meter\u2019s credit",
        ),
        (
            f'<rect x="0" y="-5" width="16" height="10" fill="{COLOURS["relay"]}"/>',
            "relay closed",
        ),
        (f'<rect x="0" y="-1" width="16" height="2" fill="{COLOURS["axis"]}"/>', "relay open"),
    ]
    parts = ['<g class="legend">']
    lx, ly, rows = left + 4, 12, 1
    for icon, text in items:
        item_w = 22 + 6.6 * len(text) + 18
        if lx + item_w > width - right and lx > left + 4:
            lx, ly, rows = left + 4, ly + 16, rows + 1
        parts.append(
            f'<g transform="translate({lx:.0f},{ly})">{icon}<text x="21" y="4">{text}</text></g>'
        )
        lx += item_w
    parts.append("</g>")
    return "".join(parts), rows


def credit_plot(
    tests: Sequence[TestRecord],
    anchors: dict[str, str],
    *,
    title: str,
    width: int = 1000,
    height: int = 300,
    bands: bool = True,
    scale: _CreditScale | None = None,
) -> Markup | None:
    """Electricity credit (kWh) and load relay state over time from the tests' evidence
    steps, as SVG. Time runs from 0 at the start of the first token's entry; ``scale``
    shares one credit axis between plots.

    Each test is drawn separately (the meter is reset between tests): credit is flat while a
    token is entered and jumps when the meter answers; a failed step is a red dot, with a
    hollow ring where a conforming meter's credit would be. The relay lane below shows the
    relay state the meter reported after each token.
    """
    starts = [t for t in (_entry_start(s) for t in tests for s in t.steps) if t is not None]
    if not starts:
        return None
    origin_at = min(starts)
    series = _series(tests, anchors, origin_at)
    t_lo = 0.0
    t_hi = max(p.t for s in series for p in s.points)
    span = max(t_hi - t_lo, 1.0)
    t_hi = t_lo + span * 1.02
    scale = scale or credit_scale(tests)
    left, right = 64, 16
    legend, legend_rows = _legend(width, left, right)
    top = 14 + 16 * legend_rows
    lane_h, gap, axis_h = 16, 14, 34
    plot_h = height - top - gap - lane_h - axis_h
    plot_w = width - left - right
    lane_y = top + plot_h + gap

    def x(t: float) -> float:
        return round(left + (t - t_lo) / (t_hi - t_lo) * plot_w, 2)

    def y(c: float) -> float:
        return round(top + (1 - scale.unit(c)) * plot_h, 2)

    parts: list[str] = []
    add = parts.append
    label = escape(title)
    add(
        f'<svg class="credit-plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} '
        f'{height}" width="{width}" height="{height}" role="img" aria-label="{label}">'
    )
    add(f"<title>{label}</title>")
    # test bands (click to jump to the test)
    if bands:
        for i, s in enumerate(series):
            x0, x1 = x(s.points[0].t0), x(s.points[-1].t)
            name = escape(f"{s.test.name} ({VERDICT_WORDS.get(s.test.verdict, s.test.verdict)})")
            fill = COLOURS["band"] if i % 2 == 0 else "#ffffff"
            add(
                f'<a href="#{s.anchor}"><rect class="band" x="{x0}" y="{top}" '
                f'width="{max(x1 - x0, 1.5):.2f}" height="{plot_h + gap + lane_h}" '
                f'fill="{fill}"><title>{name}</title></rect></a>'
            )
    # grid and axes
    for tick in scale.ticks:
        add(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick)}" y2="{y(tick)}" '
            f'stroke="{COLOURS["grid"]}" stroke-width="1"/>'
        )
        add(
            f'<text x="{left - 6}" y="{y(tick) + 4}" text-anchor="end" class="tick">'
            f"{scale.label(tick)}</text>"
        )
    axis = "electricity credit (kWh, log scale)" if scale.log else "electricity credit (kWh)"
    add(
        f'<text x="14" y="{top + plot_h / 2}" class="axis-title" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2})">{axis}</text>'
    )
    for tick in _ticks(t_lo, t_hi, 8):
        add(
            f'<line x1="{x(tick)}" x2="{x(tick)}" y1="{lane_y + lane_h}" '
            f'y2="{lane_y + lane_h + 4}" stroke="{COLOURS["axis"]}"/>'
        )
        add(
            f'<text x="{x(tick)}" y="{lane_y + lane_h + 16}" text-anchor="middle" '
            f'class="tick">{_num(tick)}</text>'
        )
    add(
        f'<text x="{left + plot_w}" y="{height - 3}" text-anchor="end" class="axis-title">'
        f"seconds since the first token ({escape(fmt_time(origin_at))})</text>"
    )
    add(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y(scale.ticks[0])}" '
        f'y2="{y(scale.ticks[0])}" '
        f'stroke="{COLOURS["axis"]}"/>'
    )
    # relay lane
    add(
        f'<text x="{left - 6}" y="{lane_y + lane_h - 4}" text-anchor="end" class="tick">'
        "relay</text>"
    )
    add(
        f'<rect x="{left}" y="{lane_y}" width="{plot_w}" height="{lane_h}" fill="none" '
        f'stroke="{COLOURS["grid"]}"/>'
    )
    for s in series:
        for i, p in enumerate(s.points):
            end = s.points[i + 1].t if i + 1 < len(s.points) else p.t + max(span * 0.004, 0.05)
            w = max(x(end) - x(p.t), 1.0)
            closed = p.relay == "closed"
            tip = escape(f"{s.test.name}: relay {p.relay or 'unknown'} after step {p.step.index}")
            add(
                f'<rect class="relay-{"closed" if closed else "open"}" x="{x(p.t)}" '
                f'y="{lane_y + (2 if closed else lane_h - 4)}" width="{w:.2f}" '
                f'height="{lane_h - 4 if closed else 2}" '
                f'fill="{COLOURS["relay"] if closed else COLOURS["axis"]}">'
                f"<title>{tip}</title></rect>"
            )
    # credit lines: flat during entry, a jump at the result, nothing between tests
    for s in series:
        coords: list[tuple[float, float]] = []
        for p in s.points:
            if p.before is not None:
                coords += [(x(p.t0), y(p.before)), (x(p.t), y(p.before))]
            if p.after is not None:
                coords.append((x(p.t), y(p.after)))
        if len(coords) > 1:
            path = " ".join(f"{cx},{cy}" for cx, cy in coords)
            add(
                f'<polyline points="{path}" fill="none" stroke="{COLOURS["credit"]}" '
                'stroke-width="1.6" stroke-linejoin="round"/>'
            )
    # markers: every result, failed ones red with the conforming credit as a ring
    radius = 2.6 if bands else 3.6
    for s in series:
        for p in s.points:
            if p.after is None:
                continue
            st = p.step
            tip = escape(
                f"{s.test.name} · step {st.index}: {st.label}\n"
                f"token {group_token(st.token)}\n"
                f"result {st.observed_result} (expected {st.expected_result})\n"
                f"electricity credit {fmt_kwh(p.after)} kWh"
                + (f" (expected {fmt_kwh(p.expected)})" if p.expected is not None else "")
                + f"\nrelay {st.observed_relay} (expected {st.expected_relay})"
            )
            if not st.ok and p.expected is not None:
                add(
                    f'<line x1="{x(p.t)}" x2="{x(p.t)}" y1="{y(p.after)}" y2="{y(p.expected)}" '
                    f'stroke="{COLOURS["fail"]}" stroke-dasharray="3 2"/>'
                )
                add(
                    f'<circle class="expected" cx="{x(p.t)}" cy="{y(p.expected)}" '
                    f'r="{radius + 1.4}" fill="#ffffff" stroke="{COLOURS["fail"]}" '
                    f'stroke-width="1.5"><title>{tip}</title></circle>'
                )
            colour = COLOURS["credit"] if st.ok else COLOURS["fail"]
            r = radius if st.ok else radius + 1.2
            add(
                f'<circle class="{"ok" if st.ok else "bad"}" cx="{x(p.t)}" cy="{y(p.after)}" '
                f'r="{r}" fill="{colour}"><title>{tip}</title></circle>'
            )
    add(legend)
    add("</svg>")
    return Markup("".join(parts))


# --- rendering ---------------------------------------------------------------------------


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        token=group_token,
        time=fmt_time,
        seconds=fmt_seconds,
        kwh=fmt_kwh,
        tclass=fmt_class,
        plural=plural,
        step_label=step_label,
        probe_label=probe_label,
        features=feature_words,
        role=role_label,
    )
    env.globals.update(
        words=VERDICT_WORDS,
        symbols=VERDICT_SYMBOLS,
        group_tests=group_tests,
        exit_meaning=EXIT_STATUS,
        frontends=FRONTENDS,
    )
    return env


def group_tests(
    nodeids: Sequence[str], tests_by_id: dict[str, TestRecord]
) -> list[tuple[str, list[tuple[str, TestRecord]]]]:
    """Tests by function, keeping order: ``[(function, [(case label, test)])]``. The label is
    the parameter id, with the rig's name in front when the function ran on several rigs."""
    groups: dict[str, list[tuple[str, TestRecord]]] = {}
    for test in (tests_by_id[n] for n in nodeids):
        func, bracket, param = test.name.partition("[")
        groups.setdefault(func, []).append((param[:-1] if bracket else "", test))
    out = []
    for func, cases in groups.items():
        if len({t.rig for _, t in cases}) > 1:
            cases = [(f"{(t.rig or '?').split(':')[0]} {p}".strip(), t) for p, t in cases]
        out.append((func, cases))
    return out


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def anchors_for(record: RunRecord) -> dict[str, str]:
    """A short, stable HTML id per test (``t1``, ``t2``, ... in record order)."""
    out: dict[str, str] = {}
    for i, test in enumerate(record.tests, 1):
        out.setdefault(test.nodeid, f"t{i}")
    return out


def _part_caption(record: RunRecord, rig_id: str | None, source: str, several: bool) -> str:
    """A run plot's caption in words: which front end, which rig and meter."""
    src = next((s for s in record.run.sources if s.journal == source), None)
    part = FRONTENDS.get(src.frontend if src else "pytest", "tests")
    rig = record.rig(rig_id)
    if rig is None:
        where = "an unknown rig"
    elif rig.topology == "split":
        where = f"split rig {rig.name}, meters {', '.join(u.name for u in rig.units)}"
    else:
        where = f"rig {rig.name}, meter {rig.serial or 'unknown'}"
    text = f"{part[0].upper()}{part[1:]} on {where}"
    if several:
        text += f" (journal {source})"
    return text + ": electricity credit and load relay after each token, from the first token"


def _run_plots(record: RunRecord, anchors: dict[str, str]) -> list[tuple[str, Markup]]:
    """One plot per rig and journal (each has its own clock and meter), all drawn alike:
    one credit axis for every part, time from 0 in each."""
    groups: dict[tuple[str | None, str], list[TestRecord]] = {}
    for test in record.tests:
        groups.setdefault((test.rig, test.source), []).append(test)
    frontend = {s.journal: s.frontend for s in record.run.sources}
    per_kind: dict[tuple[str | None, str], int] = {}
    for rig, source in groups:
        key = (rig, frontend.get(source, "pytest"))
        per_kind[key] = per_kind.get(key, 0) + 1
    scale = credit_scale(record.tests)
    plots = []
    for (rig, source), tests in groups.items():
        several = per_kind[(rig, frontend.get(source, "pytest"))] > 1
        caption = _part_caption(record, rig, source, several)
        svg = credit_plot(tests, anchors, title=caption, scale=scale)
        if svg is not None:
            plots.append((caption, svg))
    return plots


@dataclass
class _Cert:
    """What the certification parts of the page show, worked out once for the template."""

    badge: str
    badge_class: str
    subset: bool
    broken: list[str]
    standards: list[tuple[str, str, str]]  # standard, edition used, title
    cal: list[tuple[object, bool]]  # lab instrument, past due on the run's day
    operator: str


def _certification(record: RunRecord) -> _Cert:
    verdict = record.verdict
    label = getattr(record, "verdict_label", "") or VERDICT_WORDS.get(verdict, verdict.upper())
    subset = verdict == "pass" and "subset" in label.lower()
    broken = [
        f"{s.journal}: line {s.chain_first_bad}: {s.chain_detail}"
        for s in record.run.sources
        if getattr(s, "chain", None) == "broken"
    ]
    lab = getattr(record, "lab", None)
    overrides = lab.editions if lab is not None else {}
    cited = {e for row in record.requirements for e in getattr(row, "editions", [])}
    standards = []
    for std in load_standards():
        edition = overrides.get(std.standard, std.edition)
        if edition in cited:
            standards.append((std.standard, edition, std.title))
    day = record.run.start.date() if record.run.start else datetime.now().date()
    cal = [(ins, ins.cal_due < day) for ins in (lab.instruments if lab else [])]
    operator = (lab.operator if lab else None) or record.run.operator or "—"
    return _Cert(label, verdict, subset, broken, standards, cal, operator)


def render_html(record: RunRecord, *, print_mode: bool = False) -> str:
    """The report page. ``print_mode``: the copy report.pdf prints (every test and its
    evidence open, probe logs left out, no script): PDF engines run no JavaScript."""
    anchors = anchors_for(record)
    test_plots = {}
    for test in record.tests:
        if len(test.steps) >= 2:
            svg = credit_plot(
                [test],
                anchors,
                title=f"Electricity credit and load relay after each token of {test.name}",
                width=760,
                height=210,
                bands=False,
            )
            if svg is not None:
                test_plots[test.nodeid] = svg
    template = _environment().get_template("report.html.j2")
    by_rig: dict[str | None, list[TestRecord]] = {}
    for test in record.tests:
        by_rig.setdefault(test.rig, []).append(test)
    serials = [r.serial for r in record.rigs if r.serial]
    title = "STS conformance report"
    if getattr(record, "report_number", ""):
        title += f" {record.report_number}"
    if serials:
        title += " · meter " + ", ".join(serials)
    return template.render(
        r=record,
        title=title,
        print_mode=print_mode,
        cert=_certification(record),
        anchors=anchors,
        tests_by_id={t.nodeid: t for t in record.tests},
        run_plots=_run_plots(record, anchors),
        test_plots=test_plots,
        by_rig=by_rig,
        max_duration=max((t.duration_s or 0 for t in record.tests), default=0) or 1,
    )


def write_html(record: RunRecord, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_html(record), encoding="utf-8")
    tmp.replace(path)
    return path
