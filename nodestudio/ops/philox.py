"""Philox4x32-10 (Random123) in NumPy: the reference for the device generator, bit for bit.

The device includes pyopencl's copy of Random123's `philox.cl`; both sides draw word 0 of
philox4x32(counter = (element index, call index, 0, 0), key = (seed, 0x5eed5eed)) and keep its top
24 bits, so a uniform is k / 2**24 exactly and the reference reproduces every dropout mask.
"""

from __future__ import annotations

import numpy as np

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)
KEY_HI = 0x5EED5EED


def philox4x32(counter: list[np.ndarray], key: tuple[int, int], rounds: int = 10) -> list:
    c = [np.asarray(x, dtype=np.uint64) & _MASK for x in counter]
    k0, k1 = np.uint64(key[0]) & _MASK, np.uint64(key[1]) & _MASK
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
        p0, p1 = _M0 * c[0], _M1 * c[2]
        hi0, lo0 = p0 >> np.uint64(32), p0 & _MASK
        hi1, lo1 = p1 >> np.uint64(32), p1 & _MASK
        c = [hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0]
    return c


def uniform(count: int, seed: int, call_index: int) -> np.ndarray:
    """`count` uniforms in [0, 1) for one call, as float64 multiples of 2**-24."""
    idx = np.arange(count, dtype=np.uint64)
    zero = np.zeros(count, dtype=np.uint64)
    word = philox4x32([idx, zero + np.uint64(call_index), zero, zero], (seed, KEY_HI))[0]
    return (word >> np.uint64(8)).astype(np.float64) * 2.0**-24
