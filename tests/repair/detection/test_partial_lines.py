"""Lost parts of lines: a stream cut mid-line leaves thin bands of fill across content."""

import numpy as np

from medinpaint.io import read
from medinpaint.repair import detect
from medinpaint.repair.detection import CODE
from medinpaint.repair.detection.partial_lines import band_starts, in_long_runs


def _stream_cut(array: np.ndarray, first: int, start: int, last: int, stop: int, fill: float) -> np.ndarray:
    """``array`` with the pixel stream (first index fastest: a line runs along axis 0) lost from
    ``start`` in line ``first`` to ``stop`` in line ``last`` (lines are along axis 0, indexed by j)."""
    damaged = array.copy()
    if first == last:
        damaged[start:stop, first] = fill
        return damaged
    damaged[start:, first] = fill
    damaged[:, first + 1:last] = fill
    damaged[:stop, last] = fill
    return damaged


def test_a_stream_cut_mid_line_is_found_beside_whole_lost_lines(pydicom_files):
    """CT_small (128x128) with two whole lost lines and a run of three lines that starts and stops
    inside a line: the parts of its first and last line are found, nothing else."""
    clean = read(pydicom_files / "CT_small.dcm")
    array = np.asarray(clean.array)
    fill = array.min()
    damaged = array.copy()
    damaged[:, 40:42] = fill  # whole lines
    damaged = _stream_cut(damaged, 70, 50, 72, 90, fill)
    truth = damaged != array
    found = detect(clean.with_array(damaged))
    lost = found.labels == CODE["lost-lines"]
    assert lost[truth].mean() > 0.95
    assert not (lost & ~truth).any()


def test_a_cut_in_the_line_beside_the_border_line_is_found(pydicom_files):
    """A piece of the second line, or of the last but one: the border line is the only content on its
    outer side, and it is enough (the band's margin would ask two lines there)."""
    clean = read(pydicom_files / "CT_small.dcm")
    array = np.asarray(clean.array)
    fill = array.min()
    for line in (1, array.shape[1] - 2):
        damaged = array.copy()
        damaged[:, 40:42] = fill  # whole lines
        damaged[50:90, line] = fill
        truth = damaged != array
        lost = detect(clean.with_array(damaged)).labels == CODE["lost-lines"]
        assert lost[50:90, line].all(), line
        assert not (lost & ~truth).any()


def test_a_band_of_fill_alone_is_doubtful_not_repaired(pydicom_files):
    """The same cut alone: a straight band of fill through tissue is what a template's line of 0
    looks like, so without whole lost lines across the same axis it is reported as doubtful and not
    labelled."""
    clean = read(pydicom_files / "CT_small.dcm")
    array = np.asarray(clean.array)
    damaged = _stream_cut(array, 70, 50, 70, 90, array.min())  # one line, pixels 50-89
    found = detect(clean.with_array(damaged))
    assert found.counts() == {}
    assert found.details["doubtful"]["lost-lines"] >= 30


def test_band_starts_and_long_runs_follow_their_definitions():
    rng = np.random.default_rng(0)
    fill = rng.random((40, 30, 3)) < 0.5
    margin, thickest = 2, 3
    starts = band_starts(fill, fill.astype(float), margin, thickest, 0.5)
    n = fill.shape[0]
    for t, found in enumerate(starts, start=1):
        expected = np.zeros_like(fill)
        for p in range(1, n - t):  # the margin clipped at the plane's border, one line at least
            expected[p] = (fill[p:p + t].all(axis=0) & ~fill[max(p - margin, 0):p].any(axis=0)
                           & ~fill[p + t:p + t + margin].any(axis=0))
        assert np.array_equal(found, expected), t
    # lines found lost: no band's, and as good as content in a margin (their value is the fill's)
    lost = fill & (rng.random(fill.shape) < 0.3)
    bands = fill & ~lost
    for t, found in enumerate(band_starts(fill, fill.astype(float), margin, thickest, 0.5, lost), start=1):
        expected = np.zeros_like(fill)
        for p in range(1, n - t):
            expected[p] = (bands[p:p + t].all(axis=0) & ~bands[max(p - margin, 0):p].any(axis=0)
                           & ~bands[p + t:p + t + margin].any(axis=0))
        assert np.array_equal(found, expected), t
    mask = rng.random((60, 5)) < 0.8
    for length in (1, 3, 5, 8):
        covered = in_long_runs(mask, length)
        expected = np.zeros_like(mask)
        for p in range(60 - length + 1):
            run = mask[p:p + length].all(axis=0)
            expected[p:p + length] |= run
        assert np.array_equal(covered, expected), length


def test_fill_goes_on_from_a_band_along_its_line_near_content_only():
    """A found band grows along its line through fill near content (a piece through thin tissue), not
    through fill far from any content, and never across to another line."""
    from medinpaint.repair.detection.partial_lines import along_lines

    fill = np.zeros((20, 40), dtype=bool)
    fill[10, :] = True  # a lost line (across axis 0, running along axis 1)
    fill[:, 30:] = True  # background on the right: no content there
    seeds = np.zeros_like(fill)
    seeds[10, 5:21] = True  # the band found in tissue
    grown = along_lines(fill, seeds, 0)
    assert grown[10, :30].all()  # to the left edge, and up to the background (no content across)
    assert not grown[10, 30:].any()
    assert not grown[:10].any() and not grown[11:].any()
    assert np.array_equal(along_lines(fill.T, seeds.T, 1), grown.T)


def test_pieces_of_two_lost_lines_along_the_scans_edge_are_found():
    """ch2better's crop, lines of the independent generator lost to 0 (seed 70): pieces of the first two
    columns of slice 7, rows 13-37 and 52-91, with the scan's edge on one side and brain on the other.
    A band at the edge was looked for one line thick; two thick, its inner line was fill where the
    band asked for content, and 88 voxels of brain were left at 0 (11.8 dB lost). Up to the band's
    thickness, the lines at the edge go together."""
    from tests.repair.detection.scans import independently_damaged

    _, _, changed, lost, detection = independently_damaged("ch2better", True, "lines", 70, fill="stored_zero")
    found = detection.mask.astype(bool)
    edge = np.zeros_like(changed)
    edge[:, 0:2, 7] = True
    assert (changed & edge).sum() == 123
    assert found[changed & edge].mean() > 0.9
    assert (found & ~lost).sum() <= 40  # (the start's: a line's flanks, not the edge)


def test_air_between_a_rounded_head_and_the_scans_edge_is_no_thick_edge_band():
    """A head whose rounded top nears the first row by a row a slice, in a scan that lost two whole
    rows elsewhere: in each slice the rows of air above the head are a band at the edge, and the slice
    after holds content over a third of it. A band two or three lines thick asks both slices beside to
    hold nearly all of it (66 voxels of air were taken before)."""
    from medinpaint.io import Volume

    rng = np.random.default_rng(5)
    rows, cols, slices = 64, 64, 8
    ii, jj = np.mgrid[0:rows, 0:cols]
    clean = np.zeros((rows, cols, slices), np.int16)
    for k in range(slices):
        head = (ii >= max(0, 4 - k)) & (np.hypot(ii - 40, jj - 32) < 40)
        tissue = 300 + 60 * np.sin(ii / 5.0) * np.cos(jj / 6.0) + rng.normal(0, 15, (rows, cols))
        clean[:, :, k][head] = tissue[head]
    damaged = clean.copy()
    damaged[30:32, :, 5] = 0
    found = detect(Volume(np.ascontiguousarray(damaged), np.eye(4))).labels > 0
    assert found[30:32, :, 5].mean() > 0.9
    assert not (found & (damaged == clean)).any()


def test_a_stream_cut_mid_line_beside_a_lost_line_is_found():
    """The independent generator's seed 101 in cranium's 96x96x16 crop, lines lost at -1024: in slice
    11, lines 34, 36 and 38 are lost whole (an interleaved stream) and the stream is cut again from
    the middle of line 39 to the middle of line 40. The pieces of 39 and 40 had a lost line, not
    content, two lines before them, and the band rule asks content there: 106 voxels were left. A
    line found lost now serves as a band's margin (in a scan that lost whole lines)."""
    from tests.generators.independent import damage
    from tests.repair.detection.scans import bench_view

    clean = bench_view("cranium", True)
    res = damage(np.asarray(clean.array), "lines", np.random.default_rng(101), fill=-1024)
    found = detect(clean.with_array(np.asarray(res.damaged))).labels > 0
    changed = np.asarray(res.mask, bool)
    assert found[changed].all()
    assert not (found & ~np.asarray(res.lost, bool)).any()
