"""WCAG 2.x contrast of the console palette: which text/background pairs the stylesheet
uses, read from its custom properties in light and dark mode (pure; used by a test)."""

from __future__ import annotations

import re
from pathlib import Path

CSS = Path(__file__).parent / "static" / "console.css"
#: AA for normal-size text.
AA = 4.5
#: (text, background) custom properties the stylesheet pairs, and where.
PAIRS: tuple[tuple[str, str, str], ...] = (
    ("fg", "bg", "body text"),
    ("fg", "card", "text on cards"),
    ("muted", "bg", "help and meta text"),
    ("muted", "card", "help and meta text on cards"),
    ("accent", "bg", "links"),
    ("accent", "card", "links on cards"),
    ("accent-fg", "accent", "buttons"),
    ("card", "danger", "danger buttons, critical banner, breached badge"),
    ("danger", "card", "field errors, failed results"),
    ("danger", "bg", "field errors on the page"),
    ("warn", "card", "warning badges, read-only pill"),
    ("ok", "card", "met badges, delivered results"),
    ("card", "p1", "P1 chip"),
    ("card", "p2", "P2 chip"),
    ("card", "p3", "P3 chip"),
    ("card", "p4", "P4 chip"),
    ("card", "p5", "P5 chip"),
)
_VAR = re.compile(r"--([a-z0-9-]+):\s*(#[0-9a-fA-F]{6})")


def palettes(css: str) -> dict[str, dict[str, str]]:
    """``{"light": {name: hex}, "dark": {...}}`` from the stylesheet's ``:root`` blocks
    (dark: the light palette with the ``prefers-color-scheme: dark`` block over it)."""
    dark_at = css.index("prefers-color-scheme: dark")
    light = dict(_VAR.findall(css[:dark_at]))
    block = css[dark_at : css.index("}", css.index(":root", dark_at))]
    return {"light": light, "dark": {**light, **dict(_VAR.findall(block))}}


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(hex_colour: str) -> float:
    """Relative luminance of ``#rrggbb``."""
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _linear(r) + 0.7152 * _linear(g) + 0.0722 * _linear(b)


def ratio(a: str, b: str) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def failures(css: str, minimum: float = AA) -> list[str]:
    """Every used pair below ``minimum``, in both schemes, described."""
    out: list[str] = []
    for scheme, colours in palettes(css).items():
        for text, background, where in PAIRS:
            found = ratio(colours[text], colours[background])
            if found < minimum:
                out.append(f"{scheme}: --{text} on --{background} ({where}) is {found:.2f}:1")
    return out
