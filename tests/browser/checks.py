"""What every page of the look tests is held to: axe-core, a visible focus ring, a screenshot.

* :func:`assert_accessible` runs axe-core (the copy bundled by axe-playwright-python)
  on the page and fails on any violation of impact "serious" or "critical".
* :func:`focus_rings` presses Tab through the page and returns, per stop, the
  outline's style, width and contrast against the background it is drawn on
  (WCAG 1.4.11 asks at least 3:1 for a focus indicator).
* :func:`shot` saves a full-page screenshot under artifacts/screenshots/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
BLOCKING_IMPACTS = ("serious", "critical")

_axe = Axe()


def shot(page: Page, name: str) -> None:
    """Save a full-page screenshot as ``artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def assert_accessible(page: Page, name: str) -> None:
    """Fail when axe-core finds a serious or critical violation on ``page`` as it is now."""
    results = _axe.run(page)
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
    report = "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(", ".join(node["target"]) for node in v["nodes"][:5])
        for v in blocking
    )
    assert not blocking, f"axe-core on {name}:\n{report}"


def luminance(rgb: tuple[float, float, float]) -> float:
    """Return the WCAG 2 relative luminance of an sRGB colour given as 0-255 channels."""

    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """Return the WCAG 2 contrast ratio of two colours, 1.0 to 21.0."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def parse_rgb(css: str) -> tuple[float, float, float]:
    """Return the channels of a computed ``rgb(…)``/``rgba(…)`` colour (alpha must be 1)."""
    parts = [float(p) for p in re.findall(r"[\d.]+", css)]
    assert len(parts) == 3 or parts[3] == 1, f"translucent colour {css}"
    return parts[0], parts[1], parts[2]


# The ring is drawn by the focused element, or for a type card's radio by its card;
# with an outline offset it lies on the nearest ancestor's background.
_RING_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  if (el.hasAttribute('data-ring-checked')) return null;  // round the page once
  el.setAttribute('data-ring-checked', '');
  const ring = el.matches('.choice input') ? el.closest('.choice') : el;
  const style = getComputedStyle(ring);
  let background = 'rgb(255, 255, 255)';
  for (let node = ring.parentElement; node; node = node.parentElement) {
    const colour = getComputedStyle(node).backgroundColor;
    if (colour && colour !== 'rgba(0, 0, 0, 0)' && colour !== 'transparent') {
      background = colour;
      break;
    }
  }
  return {
    what: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' '
      + (el.textContent || el.name || '').trim().slice(0, 30),
    style: style.outlineStyle, width: parseFloat(style.outlineWidth),
    colour: style.outlineColor, background,
  };
}"""


@dataclass(frozen=True)
class Ring:
    what: str
    style: str
    width: float
    ratio: float


# The first Tab stop of the app's pages and of the admin's.
SKIP_LINKS = ".skip-link, .skip-to-content-link"


def focus_rings(page: Page, *, stops: int = 25) -> list[Ring]:
    """Press Tab up to ``stops`` times from the skip link; return each stop's ring."""
    page.locator(SKIP_LINKS).first.focus()
    # Focus by keyboard, so that :focus-visible applies as it would for a keyboard user.
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")
    rings = []
    for index in range(stops):
        if index:
            page.keyboard.press("Tab")
        found = page.evaluate(_RING_JS)
        if found is None:
            break
        ratio = contrast(parse_rgb(found["colour"]), parse_rgb(found["background"]))
        rings.append(Ring(found["what"], found["style"], found["width"], round(ratio, 2)))
    page.evaluate(
        "document.querySelectorAll('[data-ring-checked]')"
        ".forEach(e => e.removeAttribute('data-ring-checked'))"
    )
    return rings


def assert_focus_rings_visible(page: Page, *, stops: int = 25) -> list[Ring]:
    """Fail unless every Tab stop shows a solid ring at least 2 px wide and 3:1 in contrast."""
    rings = focus_rings(page, stops=stops)
    assert rings, "no Tab stop"
    weak = [r for r in rings if r.style == "none" or r.width < 2 or r.ratio < 3]
    assert not weak, f"focus rings too faint: {weak}"
    return rings
