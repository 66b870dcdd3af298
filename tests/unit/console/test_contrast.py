"""The console's palette meets WCAG AA (4.5:1) for every text/background pair it uses,
in light and dark mode."""

from __future__ import annotations

from services.console.contrast import CSS, PAIRS, failures, palettes, ratio


def test_ratio_matches_the_wcag_reference_values() -> None:
    assert round(ratio("#000000", "#ffffff"), 2) == 21.0
    assert round(ratio("#777777", "#ffffff"), 2) == 4.48
    assert ratio("#123456", "#123456") == 1.0


def test_both_schemes_define_every_colour_the_pairs_use() -> None:
    found = palettes(CSS.read_text())
    names = {n for text, background, _ in PAIRS for n in (text, background)}
    assert set(found) == {"light", "dark"}
    for colours in found.values():
        assert names <= set(colours)
    assert found["light"]["bg"] != found["dark"]["bg"]


def test_every_used_pair_meets_aa() -> None:
    assert failures(CSS.read_text()) == []


def test_a_low_contrast_palette_is_caught() -> None:
    css = CSS.read_text().replace("--muted: #4b4f58", "--muted: #9a9ca3", 1)
    assert any("light: --muted on --bg" in f for f in failures(css))
