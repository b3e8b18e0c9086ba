"""Each cell's code among a column's distinct values, without pandas.

The writers format a column's distinct values once each and build the column with a take: a
chunk's local dates, UTC offsets and the readings of a sensor of fixed resolution take a
handful of values. `np.unique` sorts where pandas' factorize hashes (about 0.16 against
0.06 ms for 10,000 numbers), which keeps pandas out of an export that builds no frame.
"""

from __future__ import annotations

import numpy as np


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(codes, uniques)` with `uniques[codes] == values`, for a numeric array; uniques sorted."""
    uniques, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1), uniques
