"""Independent NumPy reference for convolution and pooling: explicit loops over output positions.

Written from the definitions in the lecture notes (slide a window, multiply-and-sum or aggregate), not
from jaxcnn's code: padding is materialised with np.pad, and the output size is found by enumerating
the window positions that fit, so the note-004 formula in jaxcnn.layers is checked rather than reused.
"""

from __future__ import annotations

import numpy as np


def explicit_pads(padding, n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """One axis' (lo, hi) padding. 'same' = smallest total padding giving ceil(n/s) outputs, extra at hi."""
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        want = -(-n // s)
        span = d * (k - 1) + 1
        total = 0
        while len(range(0, n + total - span + 1, s)) < want:
            total += 1
        return (total // 2, total - total // 2)
    if isinstance(padding, int):
        return (padding, padding)
    lo, hi = padding
    return (lo, hi)


def _windows(n_padded: int, k: int, s: int, d: int) -> list[int]:
    """Start offsets of every window (span d*(k-1)+1) that fits inside the padded axis, stride s."""
    span = d * (k - 1) + 1
    return [start for start in range(0, n_padded, s) if start + span <= n_padded]


def conv2d(x, w, b, stride, pads, dilation, groups):
    """x (N,H,W,C), w (kh,kw,C/groups,O), b (O,) or None; pads ((top,bottom),(left,right)). float64 out."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    kh, kw, cg, out_ch = w.shape
    og = out_ch // groups
    rows = _windows(xp.shape[1], kh, stride[0], dilation[0])
    cols = _windows(xp.shape[2], kw, stride[1], dilation[1])
    out = np.zeros((x.shape[0], len(rows), len(cols), out_ch))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            for g in range(groups):
                for o in range(g * og, (g + 1) * og):
                    total = np.zeros(x.shape[0])
                    for a in range(kh):
                        for bb in range(kw):
                            pix = xp[:, r + a * dilation[0], c + bb * dilation[1], g * cg:(g + 1) * cg]
                            total += pix @ w[a, bb, :, o]
                    out[:, i, j, o] = total
    if b is not None:
        out += np.asarray(b, np.float64)
    return out


def pool2d(x, kind, window, stride, pads, count_include_pad=True, p=2.0):
    """Pooling of an NHWC array; padded cells are ignored by max/min, zeros for avg/lp."""
    x = np.asarray(x, np.float64)
    mask = np.pad(np.ones(x.shape[1:3], bool), (pads[0], pads[1]))
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    rows = _windows(xp.shape[1], window[0], stride[0], 1)
    cols = _windows(xp.shape[2], window[1], stride[1], 1)
    out = np.zeros((x.shape[0], len(rows), len(cols), x.shape[3]))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            patch = xp[:, r:r + window[0], c:c + window[1], :]
            real = mask[r:r + window[0], c:c + window[1]]
            if kind == "max":
                out[:, i, j] = patch[:, real].max(axis=1)
            elif kind == "min":
                out[:, i, j] = patch[:, real].min(axis=1)
            elif kind == "avg":
                denom = window[0] * window[1] if count_include_pad else real.sum()
                out[:, i, j] = patch.sum(axis=(1, 2)) / denom
            elif kind == "lp":
                out[:, i, j] = (np.abs(patch) ** p).sum(axis=(1, 2)) ** (1.0 / p)
            else:
                raise ValueError(kind)
    return out


def adaptive_avg_pool(x, out_h: int, out_w: int):
    """PyTorch's AdaptiveAvgPool2d by its definition: bin i covers [floor(i*n/o), ceil((i+1)*n/o))."""
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    out = np.zeros((n, out_h, out_w, c))
    for i in range(out_h):
        h0, h1 = int(np.floor(i * h / out_h)), int(np.ceil((i + 1) * h / out_h))
        for j in range(out_w):
            w0, w1 = int(np.floor(j * w / out_w)), int(np.ceil((j + 1) * w / out_w))
            out[:, i, j] = x[:, h0:h1, w0:w1].mean(axis=(1, 2))
    return out
