"""Per-modality intensity normalisation to roughly [0, 1], recorded so it can be undone.

CT uses a fixed window in HU, the same for every scan, so a value means the same tissue everywhere:
(-1024, 3071) HU covers the 12 bits a CT scanner stores without clipping anything that matters. MR has
no absolute scale, so each volume maps its robust range (the 0.5th and 99.5th percentiles of its
physical values) to [0, 1]. Either way ``normalised = (physical - low) / (high - low)``, and the record
``{"method", "low", "high"}`` travels with every sample.
"""

from __future__ import annotations

import numpy as np

CT_WINDOW: tuple[float, float] = (-1024.0, 3071.0)
MR_PERCENTILES: tuple[float, float] = (0.5, 99.5)


def normalisation(physical: np.ndarray, modality: str | None) -> dict:
    """The normalisation record of one volume from its physical values and modality."""
    if (modality or "").upper() == "CT":
        low, high = CT_WINDOW
        return {"method": "ct-window", "low": low, "high": high}
    finite = physical[np.isfinite(physical)]
    low, high = (float(v) for v in np.percentile(finite, MR_PERCENTILES)) if finite.size else (0.0, 1.0)
    if high <= low:
        high = low + 1.0
    return {"method": "mr-percentiles", "low": low, "high": high}


def normalise(physical: np.ndarray, norm: dict) -> np.ndarray:
    """Physical values to the normalised scale, as float32."""
    return ((np.asarray(physical, dtype=np.float64) - norm["low"])
            / (norm["high"] - norm["low"])).astype(np.float32)


def denormalise(values, norm: dict):
    """Normalised values (numpy array or torch tensor) back to physical units."""
    return values * (norm["high"] - norm["low"]) + norm["low"]
