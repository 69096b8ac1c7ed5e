"""Find damage in a scan without being told where it is.

Each detector looks for a trace that a transmission or storage failure leaves and a real anatomy does
not, working on the stored values (where the failure happened):

- lost slices: missing instances of a DICOM series (from the positions), or a constant slice between
  two slices with content, or up to three at the scan's edge beside a slice full of content;
- fill values: 0, the image minimum, the padding value, and any constant the scan holds in runs of 16
  (not its padding frame, its background, or a floor or ceiling its values are clipped to): lost data
  takes whatever constant a sender or converter writes (-1024 in an HU float CT, -2000, 0 after
  rescaling); any region of such a run value is lost packets, whatever its tile size or grid; once
  some voxels of a negative fill are found lost in a scan that holds no negative value of its own, all
  its voxels are, and so are its short runs (a partial line, a stream's tail too short for these
  rules) where no rule found any;
- lost scan lines: whole rows (or columns) at a fill value with content on both sides, and along them
  in a slice beside;
- lost packets: fill-valued regions aligned to an 8, 16 or 32 pixel tile grid, or exact rectangles inside
  content that stands out from the fill; a whole tile beside the background where content runs
  straight along two of its sides and fills it in a slice beside it (or two slices on, where the
  slice beside lost the same tile); and the straight rims of fill between a lost region and content;
- truncation: the tail of a pixel stream (raster order: row by row, slice by slice; a Siemens mosaic's
  own rows) at a fill value, cutting through content, 16 voxels long at least;
- corrupted blocks: rectangles of garbage, far rougher than the rest of the image and alike along no
  direction (judged on their voxels of content: a strip of scalp a mask leaves is smooth along itself);
  and, in a volume, rectangles of data from elsewhere (copied, or shifted along the stream) that
  neither slice beside explains where they explain each other, up to four straight edges; in a single
  slice, a block whose own pixels moved along the stream, where its sides are straight seams and a roll
  of its stream undone fits them and smooths it inside;
- bit errors: single voxels far outside the range of their eight neighbours (the five inside the
  plane at its border, by twice as much; with fewer neighbours of content, only four value ranges
  beyond the content's), or in uniform background a voxel one flipped bit away from the fill value
  all eight neighbours and the two across slices hold. Flips count only where the outliers one flip
  explains far outnumber those it does not (some clean scans hold outliers of their own in tissue,
  and a cut-off for background noise leaves lone voxels in the background); otherwise only flips a
  value range beyond the content's stand. Once a scan is known to carry bit errors, and has far
  fewer outliers of its own than flips, a second look takes smaller jumps too: a voxel well away
  from its neighbours' median that one flipped bit puts back among them, then a voxel far from a
  linear prediction from its neighbours, in units of that prediction's local error (texture hides
  such flips in a clean-scan check, but in a scan with flips they are flips far more often than not).

Impulses (also labelled bit errors): a voxel beyond all its in-plane neighbours and well beyond the
range of the scan's tissue (percentiles after a 3x3 median), whatever its magnitude and whether or not
one flipped bit explains it; an outlier that continues into a slice beside is anatomy. Where the evidence
is weak (a few impulses, a few flips in a large scan), findings go to ``Detection.doubtful`` instead of
the labels: reported, not repaired; but for a voxel that lies beyond its neighbours' range by many
times their spread (a flipped high bit amid even tissue), evidence enough on its own.

Impossible values (last, :mod:`.impossible`): in a float scan, magnitudes no scan holds; and, once
damage is found, values of a kind the scan's own never are (off the whole numbers of a scan of whole
numbers, below 0 in a scan of magnitudes, near 0 far below its magnitudes) where they lie beyond the
noise of their neighbours.

A label map (a segmentation stored as an image: 2 to 16 whole numbers; never an NM or PET scan of
counts) is no measurement and is left alone (:mod:`.label_maps`).

Thresholds are relative to the scan's own noise and range, and were set so that no clean scan the
project has (sample data, training volumes including heudiconv's mosaics, pydicom's and nibabel's
images, and every data source along its three axes in every storage form: tests/repair/detection/
test_clean_forms.py, three known cases left) gives a single detection. Each detector's thresholds are
one frozen dataclass with a default instance in its module (``LostLineThresholds`` and ``LOST_LINES``,
...); docs/detection.md says which rule each one sets and what it is known to miss.

Modules: :mod:`.volume` drives a scan through the detectors, slab by slab (:mod:`.slabs`);
:mod:`.lost_slices` (lost slices, truncation), :mod:`.lost_lines` and :mod:`.partial_lines` (lost lines),
:mod:`.packets` (packet loss),
:mod:`.blocks` (corrupted blocks), :mod:`.shifted_in_plane` (shifted blocks in a single slice),
:mod:`.bit_errors` and :mod:`.later_looks` (bit errors),
:mod:`.impossible` (values no measurement of the scan can be), :mod:`.foreign_values` (a value foreign to
the scan: a negative fill in a scan that is never negative, wherever it lies or in short runs),
:mod:`.nan_frame` (a frame of NaN around every slice, inside which detection runs), :mod:`.label_maps`
(segmentations, left alone);
:mod:`.kinds` holds the kinds (named by the damage transforms) and :class:`Detection`.
"""

from medinpaint.repair.detection.bit_errors import BIT_ERRORS, BitErrorThresholds
from medinpaint.repair.detection.blocks import CORRUPTED_BLOCKS, CorruptedBlockThresholds
from medinpaint.repair.detection.kinds import CODE, KINDS, Detection
from medinpaint.repair.detection.later_looks import LATER_LOOKS, LaterLookThresholds
from medinpaint.repair.detection.lost_lines import LOST_LINES, LostLineThresholds
from medinpaint.repair.detection.lost_slices import (
    LOST_SLICES,
    TRUNCATION,
    LostSliceThresholds,
    TruncationThresholds,
)
from medinpaint.repair.detection.slabs import SCAN, SLAB, ScanThresholds, fill_values, is_fill_value
from medinpaint.repair.detection.tiles import PACKET_LOSS, PacketLossThresholds
from medinpaint.repair.detection.volume import detect

__all__ = [
    "detect", "Detection", "KINDS", "CODE", "SLAB", "fill_values", "is_fill_value",
    "ScanThresholds", "SCAN", "LostSliceThresholds", "LOST_SLICES", "TruncationThresholds", "TRUNCATION",
    "LostLineThresholds", "LOST_LINES", "PacketLossThresholds", "PACKET_LOSS",
    "CorruptedBlockThresholds", "CORRUPTED_BLOCKS", "BitErrorThresholds", "BIT_ERRORS",
    "LaterLookThresholds", "LATER_LOOKS",
]
