"""Draw a meter's LCD as a camera would see it: pure, seeded, no I/O.

`render` returns an RGB `PIL.Image.Image` of the map's frame size. The imperfections of a
camera on a fixed mount in front of the meter are drawn from ``seed`` (same seed, same
image): a small tilt, perspective and offset, lens blur, sensor noise, a glare blob, uneven
lighting, LCD contrast that varies from frame to frame and segment to segment, unlit
segments faintly visible (ghosting), and a JPEG round trip as an MJPEG stream would add.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from decimal import Decimal

import cv2
import numpy as np
from PIL import Image, ImageDraw

from hil.display.layout import CellGeometry, DisplayMap
from hil.display.segments import Glyph, fit

_SUPERSAMPLE = 2  # segments are drawn at twice the size and averaged down: smooth edges
_GLASS = np.array([178.0, 190.0, 170.0])  # the LCD's grey-green background, RGB
_INK = np.array([28.0, 34.0, 32.0])  # a fully driven segment
_HOUSING = np.array([40.0, 42.0, 44.0])  # the meter's case around the glass


@dataclass(frozen=True)
class DisplayState:
    """What the LCD shows: the main field's text ("   12.50" or a message word; right-
    aligned into the cells, '.' lights the point of the cell before it) and the lit icons."""

    text: str = ""
    icons: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Noise:
    """How far a frame is from a perfect one; each range is drawn uniformly per frame.
    The defaults are a fixed camera mount under room light."""

    tilt_deg: float = 1.0  # rotation, either way
    perspective_px: float = 3.0  # each corner of the frame moves up to this
    offset_px: float = 6.0  # the whole picture shifts up to this, each axis
    scale: float = 0.02  # and grows or shrinks up to 2 %
    blur_sigma: tuple[float, float] = (0.5, 1.2)  # focus and lens, px
    sensor_sigma: float = 3.0  # Gaussian sensor noise, grey levels of 255
    glare: tuple[float, float] = (0.0, 45.0)  # peak brightness added by a reflection
    glare_radius: tuple[float, float] = (25.0, 70.0)  # px
    brightness: tuple[float, float] = (0.85, 1.1)  # the light on the meter
    shading: float = 0.08  # brightness falls off up to this across the glass
    contrast: tuple[float, float] = (0.7, 0.95)  # opacity of a lit segment (LCD drive/angle)
    contrast_spread: float = 0.04  # segment-to-segment unevenness of that opacity
    ghost: tuple[float, float] = (0.02, 0.08)  # opacity of an unlit segment
    jpeg_quality: int | None = 85  # None: no compression

    @classmethod
    def none(cls) -> Noise:
        """A perfect frame: no tilt, blur, glare or noise, full contrast."""
        return cls(
            tilt_deg=0,
            perspective_px=0,
            offset_px=0,
            scale=0,
            blur_sigma=(0, 0),
            sensor_sigma=0,
            glare=(0, 0),
            brightness=(1, 1),
            shading=0,
            contrast=(0.95, 0.95),
            contrast_spread=0,
            ghost=(0, 0),
            jpeg_quality=None,
        )

    def scaled(self, factor: float) -> Noise:
        """Every imperfection ``factor`` times as strong (contrast falls, ghosts rise)."""
        k = float(factor)
        lo, hi = self.contrast
        quality = self.jpeg_quality
        return replace(
            self,
            tilt_deg=self.tilt_deg * k,
            perspective_px=self.perspective_px * k,
            offset_px=self.offset_px * k,
            scale=self.scale * k,
            blur_sigma=(self.blur_sigma[0] * k, self.blur_sigma[1] * k),
            sensor_sigma=self.sensor_sigma * k,
            glare=(self.glare[0] * k, self.glare[1] * k),
            shading=min(0.9, self.shading * k),
            contrast=(lo / k, hi / k) if k > 1 else (lo, hi),
            contrast_spread=self.contrast_spread * k,
            ghost=(min(0.9, self.ghost[0] * k), min(0.9, self.ghost[1] * k)),
            jpeg_quality=None if quality is None else max(5, round(quality / k)),
        )


def credit_text(kwh: float, resolution_kwh: float, cells: int) -> str:
    """Credit as the LCD shows it: rounded down to the resolution, as many decimals as the
    resolution has (0.01 -> "12.50", 1 -> "12"), right-aligned in ``cells`` cells (the
    point takes no cell). A value needing more cells than there are shows as ``cells``
    dashes, as a real LCD's overflow does; a reading of it has no value."""
    if resolution_kwh <= 0 or cells < 1:
        raise ValueError("resolution_kwh must be positive and cells at least 1")
    decimals = max(0, -int(Decimal(repr(resolution_kwh)).normalize().as_tuple().exponent))
    # The register counts whole steps of the resolution; the tiny slack keeps 0.29/0.01 at 29.
    steps = math.floor(kwh / resolution_kwh + 1e-9)
    text = f"{Decimal(steps) * Decimal(repr(resolution_kwh)):.{decimals}f}"
    digits = len(text.replace(".", ""))
    if digits > cells:
        return "-" * cells
    return " " * (cells - digits) + text


def render(state: DisplayState, display_map: DisplayMap, *, noise: Noise, seed: int) -> Image.Image:
    """The frame a camera takes of the LCD showing ``state``: an RGB image of the map's
    frame size. ValueError for text the field cannot show or an icon the map lacks."""
    unknown = sorted(state.icons - set(display_map.icons))
    if unknown:
        raise ValueError(f"icon {unknown[0]!r} is not on {display_map.name}")
    cells = fit(state.text, display_map.field.cells)
    rng = np.random.default_rng(seed)
    width, height = display_map.frame

    alpha = _segment_opacity(display_map, cells, state.icons, noise, rng)
    picture = _compose(display_map, alpha, noise, rng)
    picture = _camera(picture, display_map, noise, rng)
    pixels = np.clip(picture, 0, 255).astype(np.uint8)
    if noise.jpeg_quality is not None:
        _ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, noise.jpeg_quality])
        pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    assert pixels.shape[:2] == (height, width)
    return Image.fromarray(pixels, "RGB")


def _between(rng: np.random.Generator, span: tuple[float, float]) -> float:
    return float(rng.uniform(span[0], span[1])) if span[1] > span[0] else float(span[0])


def _segment_opacity(
    display_map: DisplayMap,
    cells: list[Glyph],
    icons: frozenset[str],
    noise: Noise,
    rng: np.random.Generator,
) -> np.ndarray:
    """Opacity of the LCD's ink over the frame, 0 (clear glass) to 1 (black)."""
    width, height = display_map.frame
    s = _SUPERSAMPLE
    layer = Image.new("L", (width * s, height * s), 0)
    draw = ImageDraw.Draw(layer)
    lit = _between(rng, noise.contrast)
    ghost = _between(rng, noise.ghost)

    def level(on: bool) -> int:
        if not on:
            return round(255 * ghost)
        spread = rng.uniform(-noise.contrast_spread, noise.contrast_spread)
        return round(255 * float(np.clip(lit + spread, 0, 1)))

    for glyph, geometry in zip(cells, display_map.field.geometry, strict=True):
        segs = glyph.segments
        for name, bar in geometry.bars.items():
            points = geometry.to_frame(bar.polygon()) * s
            draw.polygon([tuple(p) for p in points], fill=level(name in segs))
        _draw_point(draw, geometry, level(glyph.dp), s)
    for name, box in display_map.icons.items():
        inset = 0.1 * min(box.w, box.h)
        corners = (
            (box.x + inset) * s,
            (box.y + inset) * s,
            (box.x1 - inset) * s,
            (box.y1 - inset) * s,
        )
        draw.rounded_rectangle(corners, radius=2 * inset * s, fill=level(name in icons))
    reduced = layer.reduce(s)
    return np.asarray(reduced, dtype=np.float32) / 255.0


def _draw_point(draw: ImageDraw.ImageDraw, geometry: CellGeometry, fill: int, s: int) -> None:
    cx, cy = geometry.to_frame(np.array(geometry.dp_centre))
    r = geometry.dp_radius
    draw.ellipse(((cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s), fill=fill)


def _compose(
    display_map: DisplayMap, alpha: np.ndarray, noise: Noise, rng: np.random.Generator
) -> np.ndarray:
    """The meter face, square on: the case, the glass with its lighting, the ink."""
    width, height = display_map.frame
    light = _between(rng, noise.brightness)
    picture = np.empty((height, width, 3), np.float32)
    picture[:] = _HOUSING * light
    panel = display_map.panel
    x0, y0, x1, y1 = round(panel.x), round(panel.y), round(panel.x1), round(panel.y1)
    # Uneven light: a linear fall-off in a random direction across the glass.
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    along = (xs - xs.mean()) * math.cos(angle) + (ys - ys.mean()) * math.sin(angle)
    span = max(float(np.abs(along).max()), 1.0)
    shade = light * (1 - noise.shading * (along / span + 1) / 2)
    glass = _GLASS[None, None, :] * shade[..., None]
    a = alpha[y0:y1, x0:x1, None]
    picture[y0:y1, x0:x1] = glass * (1 - a) + _INK * light * a
    return picture


def _camera(
    picture: np.ndarray, display_map: DisplayMap, noise: Noise, rng: np.random.Generator
) -> np.ndarray:
    """The face through the camera: pose, glare, blur, sensor noise."""
    height, width = picture.shape[:2]
    centre = np.array([width / 2, height / 2])
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)
    turn = math.radians(rng.uniform(-noise.tilt_deg, noise.tilt_deg))
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    zoom = 1 + rng.uniform(-noise.scale, noise.scale)
    shift = rng.uniform(-noise.offset_px, noise.offset_px, size=2)
    moved = (corners - centre) @ rotation.T * zoom + centre + shift
    moved += rng.uniform(-noise.perspective_px, noise.perspective_px, size=(4, 2))
    warp = cv2.getPerspectiveTransform(corners.astype(np.float32), moved.astype(np.float32))
    housing = tuple(float(v) for v in picture[0, 0])
    out = cv2.warpPerspective(
        picture, warp, (width, height), flags=cv2.INTER_LINEAR, borderValue=housing
    )

    peak = _between(rng, noise.glare)
    if peak > 0:
        panel = display_map.panel
        gx = rng.uniform(panel.x, panel.x1)
        gy = rng.uniform(panel.y, panel.y1)
        radius = _between(rng, noise.glare_radius)
        ys, xs = np.ogrid[0:height, 0:width]
        blob = np.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * radius**2)).astype(np.float32)
        out += peak * blob[..., None]
    sigma = _between(rng, noise.blur_sigma)
    if sigma > 0.05:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if noise.sensor_sigma > 0:
        out += rng.standard_normal(out.shape, dtype=np.float32) * noise.sensor_sigma
    return out
