"""The names of the transmission damage kinds, which the transforms carry as ``kind`` and detection
finds under the same names. Plain strings in a module that imports nothing, so detection (and the
repair engine above it) can name them without importing the transforms, which import MONAI."""

LOST_SLICES = "lost-slices"
LOST_LINES = "lost-lines"
PACKET_LOSS = "packet-loss"
CORRUPTED_BLOCKS = "corrupted-blocks"
BIT_ERRORS = "bit-errors"
TRUNCATION = "truncation"

__all__ = ["BIT_ERRORS", "CORRUPTED_BLOCKS", "LOST_LINES", "LOST_SLICES", "PACKET_LOSS", "TRUNCATION"]
