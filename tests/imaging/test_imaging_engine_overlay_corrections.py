"""Overlay for the clinician, and the correction layer kept apart from the automatic result."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from anagen.imaging.engine import (
    CorrectionError,
    Corrections,
    analyze,
    render_overlay,
    summaries_both,
    synth,
)
from anagen.imaging.engine.overlay import TERMINAL_RGB, VELLUS_RGB


@pytest.fixture(scope="module")
def field():
    p = synth.SynthParams(
        width=640, height=512, um_per_px=5.0, glare=0.0, density_per_cm2=200, vellus_share=0.3
    )
    img, _ = synth.generate(p, 5)
    return img, analyze(img, 5.0)


def test_overlay_is_rgb_and_colours_hairs_by_class(field):
    img, a = field
    ov = render_overlay(img, a)
    assert ov.shape == img.shape and ov.dtype == np.uint8
    assert np.any(ov != img)
    for h in a.hairs:
        if not h.counted:
            continue
        x, y = np.round(np.asarray(h.centreline_px)[len(h.centreline_px) // 2]).astype(int)
        want = TERMINAL_RGB if h.diameter_um > a.terminal_cutoff_um else VELLUS_RGB
        patch = ov[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2].reshape(-1, 3)
        assert any(np.abs(px.astype(int) - want).sum() < 60 for px in patch), h.id


def test_corrections_do_not_touch_the_automatic_result(field):
    _, a = field
    before = copy.deepcopy(a.to_dict())
    ids = [h.id for h in a.hairs if h.counted]
    c = Corrections().remove_hair(ids[0]).add_hair([[100, 100], [130, 160]], diameter_um=70)
    corrected = c.apply(a)
    assert a.to_dict() == before
    assert corrected.corrected and not a.corrected
    assert corrected.summary.count == a.summary.count  # one removed, one added
    both = summaries_both(a, c)
    assert both["automatic"]["count"] == a.summary.count
    assert both["edits"] == 2


def test_add_remove_merge_split_change_counts_as_expected(field):
    _, a = field
    n = a.summary.count
    ids = [h.id for h in a.hairs if h.counted]
    assert Corrections().add_hair([[50, 50], [60, 90]]).apply(a).summary.count == n + 1
    assert Corrections().remove_hair(ids[0]).apply(a).summary.count == n - 1
    assert Corrections().merge(ids[:2]).apply(a).summary.count == n - 1
    split = Corrections().split(ids[0], n=3).apply(a)
    assert split.summary.count == n + 2
    pieces = [h for h in split.hairs if h.source == "manual"]
    orig = next(h for h in a.hairs if h.id == ids[0])
    assert sum(h.diameter_um for h in pieces) == pytest.approx(orig.diameter_um)
    end_to_end = Corrections().split(ids[0], at_px=orig.centreline_px[1]).apply(a)
    assert end_to_end.summary.count == n + 1
    thick = Corrections().set_diameter(ids[0], 99.0).apply(a)
    assert next(h for h in thick.hairs if h.id == ids[0]).diameter_um == 99.0


def test_edits_store_as_json_and_replay_identically(field):
    _, a = field
    ids = [h.id for h in a.hairs if h.counted]
    c = Corrections().split(ids[1]).merge([ids[2], ids[3]]).add_hair([[10, 10], [20, 40]])
    stored = json.loads(json.dumps(c.to_dict()))
    again = Corrections.from_dict(stored).apply(a)
    assert again.to_dict()["summary"] == c.apply(a).to_dict()["summary"]


def test_edits_naming_unknown_hairs_are_rejected(field):
    _, a = field
    with pytest.raises(CorrectionError, match="no hair with id"):
        Corrections().remove_hair(99_999).apply(a)
    first, second = a.hairs[0].id, a.hairs[1].id
    with pytest.raises(CorrectionError, match=f"hair {first} was already removed"):
        Corrections().remove_hair(first).remove_hair(first).apply(a)
    with pytest.raises(CorrectionError, match=f"hair {second} was already merged"):
        Corrections().merge([first, second]).split(second).apply(a)
    with pytest.raises(CorrectionError):
        Corrections().add_hair([[1, 1]])
    with pytest.raises(CorrectionError):
        Corrections.from_dict({"edits": [{"op": "explode"}]})
