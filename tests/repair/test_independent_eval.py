"""medinpaint.repair.independent: held-out scans only, single slices and volumes apart, honest tables."""

from __future__ import annotations

from medinpaint.data.sources import VALIDATION_SUBJECTS
from medinpaint.repair.independent import markdown, scans


def test_only_held_out_subjects_are_scored_and_2d_images_are_single_slices():
    singles, volumes = scans()
    if not singles and not volumes:  # no data fetched here
        return
    for volume in list(singles.values()) + list(volumes.values()):
        assert volume.meta["subject"] in VALIDATION_SUBJECTS
    assert all(v.shape[2] == 1 for v in singles.values())
    assert all(v.shape[2] >= 5 for v in volumes.values())


def test_tables_give_the_gain_over_the_best_classical_fill_and_the_share_of_scans_at_or_above_it():
    rows = {"medinpaint": [20.0, 30.0], "biharmonic": [21.0, 25.0], "telea": [19.0, 26.0], "scan": ["a", "b"]}
    result = {"rows": {"single": {"lines": rows}, "volume": {}},
              "scans": {"single": ["a", "b"], "volume": []}}
    table = markdown(result)
    assert "| lines (2) | 25.00 | 23.00 | 22.50 | - | - | - | +2.00 | 50% |" in table
