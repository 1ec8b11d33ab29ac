#!/usr/bin/env python3
"""The rounding bound behind the zy high-pass kernel (include/axonseg/prep/high_pass_avx512.hpp).

The kernel blurs in float32 and must still give cv2's float64 label bit for bit. It computes an
upper bound hi of the blur G directly, with second-pass weights scaled by (1 + m), and a lower
bound lo = hi * q. Where ceil(lo) == ceil(hi) the label follows from that ceiling; elsewhere the
voxel is recomputed in float64. This script checks, in exact rational arithmetic, that
hi > G and lo < G for every input, given the kernel's actual float32 weights:

  E  = fma(c_f, I_mid, fl(s_f * (I_prev + I_next)))        first pass, along z (sum exact)
  hi = fma(s_h, fl(E_prev + E_next), fl(c_h * E_mid))       second pass, along y
  lo = fl(hi * q)

All terms are >= 0, so each of the nine terms of the exact blur G* is off by its weights' own
rounding and at most 4 roundings of at most u = 2^-24 (side then side: product and fma, sum and
fma; centre terms one or two fewer). cv2's float64 G is within 2^-50 of G*. Plain Python, no
packages: python3 tools/high_pass_bound.py [m q] (hex floats; default: the kernel's constants).
"""
import struct
import sys
from fractions import Fraction

U = Fraction(1, 2**24)
CV2 = Fraction(1, 2**50)  # bound on cv2's own relative error (6 float64 roundings)
SIDE = float.fromhex("0x1.54c3939d34798p-2")  # getGaussianKernel(3, 10, CV_64F), as high_pass.hpp
CENTRE = float.fromhex("0x1.5678d8c5970d0p-2")


def f32(x: float) -> Fraction:
    return Fraction(struct.unpack("f", struct.pack("f", x))[0])


def margins(m: float, q: float):
    """(hi - G, G - lo) lower bounds, in units of u, as fractions of G*."""
    s, c, M = Fraction(SIDE), Fraction(CENTRE), Fraction(m)
    gs, gc = f32(SIDE) / s - 1, f32(CENTRE) / c - 1  # first-pass weight errors
    # The kernel builds the second-pass weights as float(side * (1.0 + m)): a double product, then float.
    gsh = f32(SIDE * (1.0 + m)) / (s * (1 + M)) - 1
    gch = f32(CENTRE * (1.0 + m)) / (c * (1 + M)) - 1
    # (first-pass weight error, second-pass weight error, roundings) of the four kinds of term.
    terms = [(gs, gsh, 4), (gs, gch, 4), (gc, gsh, 3), (gc, gch, 3)]
    low = min((1 + a) * (1 + b) * (1 - U) ** k for a, b, k in terms)
    high = max((1 + a) * (1 + b) * (1 + U) ** k for a, b, k in terms)
    hi_margin = (1 + M) * low - (1 + CV2)  # hi >= G* (1 + m) low > G* (1 + 2^-50) >= G
    lo_margin = (1 - CV2) - (1 + M) * high * f32(q) * (1 + U)  # lo <= hi q (1 + u) < G* (1 - 2^-50) <= G
    return hi_margin / U, lo_margin / U, (1 - f32(q)) / U


def main() -> int:
    m = float.fromhex(sys.argv[1]) if len(sys.argv) > 1 else float.fromhex("0x1.4p-22")
    q = float.fromhex(sys.argv[2]) if len(sys.argv) > 2 else float.fromhex("0x1.ffffeap-1")
    hi_margin, lo_margin, width = margins(m, q)
    print(f"m = {m.hex()} ({float(Fraction(m) / U):.2f} u), q = {q.hex()} (1 - {float(width):.2f} u)")
    print(f"hi - G >= {float(hi_margin):.3f} u * G*   (must be > 0)")
    print(f"G - lo >= {float(lo_margin):.3f} u * G*   (must be > 0)")
    ok = hi_margin > 0 and lo_margin > 0
    print("bound holds" if ok else "BOUND FAILS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
