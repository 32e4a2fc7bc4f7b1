"""Pieces of one long hair are one hair; clipped hairs end to end are not joined."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from anagen.imaging.engine import synth
from anagen.imaging.engine.long_hairs import LONG_HAIR_UM, join_long_hairs
from anagen.imaging.engine.models import Hair

analyze_module = importlib.import_module("anagen.imaging.engine.analyze")

UPP = 5.0  # µm/px
FLOW = np.array([1.0, 0.0])  # hairs point from left (base) to right (tip)


def piece(x0: float, x1: float, y: float = 100.0, diameter: float = 70.0, hid: int = 0) -> Hair:
    line = np.stack([np.linspace(x0, x1, 12), np.full(12, y)], axis=1)
    return Hair(hid, line, (x1 - x0) * UPP, diameter, 0)


def everywhere(_pt: np.ndarray) -> bool:
    return True


def test_pieces_across_crossings_become_one_hair_counted_once():
    # 3 pieces of one straight hair, cut where two hairs crossed it (gaps of 15 px = 75 µm).
    pieces = [piece(50, 120, hid=1), piece(135, 200, hid=2), piece(215, 300, hid=3)]
    joined = join_long_hairs(pieces, UPP, everywhere, FLOW)
    (hair,) = joined
    assert hair.counted and hair.centreline_px[0][0] == 50  # base upstream
    assert abs(hair.length_um - 250 * UPP) < 1e-6 and hair.diameter_um == 70.0


def test_a_long_hair_whose_base_end_is_outside_the_field_is_not_counted():
    pieces = [piece(50, 120), piece(135, 200), piece(215, 300)]

    def right_half(pt: np.ndarray) -> bool:
        return pt[0] > 150  # the upstream end (x = 50) lies outside

    (hair,) = join_long_hairs(pieces, UPP, right_half, FLOW)
    assert not hair.counted


def test_clipped_hairs_and_misaligned_pieces_stay_apart():
    short = [piece(50, 80), piece(95, 130)]  # one straight line, but 400 µm: two clipped hairs
    assert len(join_long_hairs(short, UPP, everywhere, FLOW)) == 2
    assert (80 - 50 + 130 - 95 + 15) * UPP < LONG_HAIR_UM
    side_step = [piece(50, 120), piece(135, 200, y=120.0), piece(215, 300, y=140.0)]
    assert len(join_long_hairs(side_step, UPP, everywhere, FLOW)) == 3  # 20 px sideways
    widths = [piece(50, 120, diameter=90.0), piece(135, 200, diameter=30.0),
              piece(215, 300, diameter=90.0)]  # fmt: skip
    assert len(join_long_hairs(widths, UPP, everywhere, FLOW)) == 3  # a vellus in the line


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_untrimmed_hairs_crossing_a_field_are_not_counted_piece_by_piece(seed, monkeypatch):
    p = synth.SynthParams(
        width=1000, height=800, um_per_px=6.0, density_per_cm2=120,
        long_hair_fraction=0.3, hair_colour="black", fitzpatrick=2,
    )  # fmt: skip
    img, truth = synth.render(synth.make_scene(p, seed), noise_seed=seed)
    joined = analyze_module.analyze(img, p.um_per_px).summary.count
    monkeypatch.setattr(analyze_module, "JOIN_LONG_HAIRS", False)
    monkeypatch.setattr(analyze_module, "LONG_HAIR_UM", float("inf"))
    pieces = analyze_module.analyze(img, p.um_per_px).summary.count
    # 35 / 42 / 28 true: 35 / 52 / 40 found joined, 40 / 68 / 61 piece by piece.
    assert abs(joined - len(truth.hairs)) < abs(pieces - len(truth.hairs))
