"""The block plan: rows are drawn in fixed seeded blocks, then cut into the caller's chunks.

A block's seed depends only on the call's seed and the block's index, so the rows depend on
``n`` and the seed alone: never on the chunk size, the thread, or the worker that draws a block.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

__all__ = ["BLOCK", "SAMPLE_TAG", "child_seed", "rechunk", "seed_int"]

BLOCK = 100_000  # rows per seeded block (output chunks are cut from blocks)
SAMPLE_TAG = 0x5A3  # mixed into every sampling seed, so sampling never reuses fit's streams


def child_seed(root: np.random.SeedSequence, i: int) -> np.random.SeedSequence:
    """The ``i``-th child of ``root``, exactly as ``root.spawn(i + 1)[i]`` would give it, made on
    demand: a plan of a billion blocks needs no list of a billion seeds (nor does a worker that
    draws one block)."""
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, i), pool_size=root.pool_size)


def seed_int(ss: np.random.SeedSequence) -> int:
    """One 32-bit integer seed from a seed sequence (for engines that take an int)."""
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def rechunk(blocks: Iterator[pd.DataFrame], size: int) -> Iterator[pd.DataFrame]:
    """Re-cut a stream of frames into frames of ``size`` rows (the last may be shorter)."""
    buf: list[pd.DataFrame] = []
    have = start = 0
    for block in blocks:
        buf.append(block)
        have += len(block)
        while have >= size:
            joined = pd.concat(buf) if len(buf) > 1 else buf[0]
            out, rest = joined.iloc[:size], joined.iloc[size:]
            out.index = pd.RangeIndex(start, start + size)
            yield out
            start += size
            buf, have = ([rest] if len(rest) else []), len(rest)
    if have:
        out = pd.concat(buf) if len(buf) > 1 else buf[0]
        out.index = pd.RangeIndex(start, start + have)
        yield out
