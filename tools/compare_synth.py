"""Compares a synthetic volume (`axonseg synth`) with a real light-sheet region, statistic by statistic.

usage: tools/.venv/bin/python tools/compare_synth.py --real ../shared/data/dlmbmap/brain-example \
           --synth OUT/volume.tiff [MORE/volume.tiff ...] [--crop Z0,Y0,X0,D,H,W] [--images docs/images]
           [--markdown]
With several synthetic volumes (other seeds) each gets a column, and the ratio column is their mean
over the real value.

Both volumes go through the same measurements, so a difference is a difference of the data, not of
the method (docs/synthetic_data.md explains each and tabulates real against synthetic):
  percentiles of all voxels and the saturated fraction (the intensity histogram);
  background: the volume's median; dark: the 0.5 % percentile (outside the tissue, or its dimmest);
  noise sigma from all differences of x-neighbours (robust: 1.4826 MAD / sqrt 2);
  foreground: the rough annotation of `axonseg annotate rough` (I minus its 3 x 3 (z, y) mean) above a
  threshold of 6 noise sigmas (the hand-picked thresholds of the training cubes are about that);
  contrast: (median of the foreground voxels - background) / background;
  axon brightness above the local background (block medians) at the foreground voxels;
  skeleton length per 1000 voxels (the fine label's skeleton: specks < 10 voxels removed, thinned);
  widths: full widths at half maximum across the axon in (y, x) and along z at skeleton points;
  stripes: relative spread of the background's column means across x and row means across y.
--images writes synth_compare_mip.png (maximum-intensity projections over the same depth, the same
grey range) and synth_compare_histogram.png, of the first synthetic volume; the crop applies to the
real volume only (the synthetic one is generated at the crop's size).
"""
import argparse
import glob
import os

import numpy as np
import tifffile
from scipy import ndimage
from skimage.morphology import skeletonize

PERCENTILES = [0.1, 1, 5, 25, 50, 75, 90, 95, 99, 99.9]
BLOCK = (4, 16, 16)  # local-background blocks (z, y, x): wider than an axon, narrower than the glow


def read_volume(path, crop=None):
    """A folder of 2-d slices (sorted names are z order) or one multi-page TIFF, as (z, y, x) uint16."""
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.tif*")))
        z0, d = (crop[0], crop[3]) if crop else (0, len(files))
        v = np.stack([tifffile.imread(f) for f in files[z0:z0 + d]])
    else:
        v = tifffile.imread(path)
        if crop:
            v = v[crop[0]:crop[0] + crop[3]]
    if crop:
        v = v[:, crop[1]:crop[1] + crop[4], crop[2]:crop[2] + crop[5]]
    return np.ascontiguousarray(v)


def local_background(v):
    """Medians of BLOCK-sized blocks, spread back over the volume (nearest block)."""
    d, h, w = (s // b * b for s, b in zip(v.shape, BLOCK))
    blocks = v[:d, :h, :w].reshape(d // BLOCK[0], BLOCK[0], h // BLOCK[1], BLOCK[1], w // BLOCK[2], BLOCK[2])
    med = np.median(blocks.transpose(0, 2, 4, 1, 3, 5).reshape(*blocks.shape[0:5:2], -1), axis=-1)
    med = ndimage.uniform_filter(med, size=(1, 3, 3), mode="nearest")  # no block seams
    index = [np.minimum(np.arange(n) // b, m - 1) for n, b, m in zip(v.shape, BLOCK, med.shape)]
    return med[np.ix_(*index)].astype(np.float32)


def rough_response(v):
    """The rough annotation's high-pass: I minus its (z, y) 3 x 3 mean (prep/high_pass.hpp), >= 0."""
    f = v.astype(np.float32)
    side, centre = 0.33277248, 0.33445504  # getGaussianKernel(3, 10)
    weights = np.array([side, centre, side], np.float32)
    g = ndimage.correlate1d(ndimage.correlate1d(f, weights, axis=0, mode="mirror"), weights, axis=1, mode="mirror")
    return np.maximum(f - g, 0)


def noise_sigma(v):
    """Noise of the typical voxel: from all x-neighbour differences, robustly (axons and edges are few)."""
    f = v.astype(np.float32)
    d = (f[:, :, 1:] - f[:, :, :-1]).ravel()
    return 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2)


def fwhm(profile, centre):
    """Full width at half maximum of a background-subtracted profile around index centre (voxels)."""
    half = profile[centre] / 2
    if half <= 0:
        return np.nan
    width = 0.0
    for step in (-1, 1):
        i = centre
        while 0 <= i + step < len(profile) and profile[i + step] > half:
            i += step
        if not 0 <= i + step < len(profile):
            return np.nan
        a, b = profile[i], profile[i + step]  # a > half >= b
        width += abs(i - centre) + (a - half) / (a - b)
    return width


def widths(signal, skeleton, rng, count=3000, reach=8):
    """Median FWHM across the axon in (y, x) and along z at skeleton points that are local maxima of
    the signal in a 3 x 3 x 3 neighbourhood (centred on the axon). Across the axon: the narrowest of
    the profiles along y, x and the two diagonals (those in voxels of sqrt 2), whatever its heading."""
    peaks = skeleton & (signal == ndimage.maximum_filter(signal, size=3))
    points = np.argwhere(peaks)
    points = points[rng.permutation(len(points))[:count]]
    k = np.arange(-reach, reach + 1)
    d, h, w = signal.shape
    yx, z = [], []
    for p in points:
        lines = [(np.clip(p[0] + k, 0, d - 1), p[1] + 0 * k, p[2] + 0 * k, 1.0),
                 (p[0] + 0 * k, np.clip(p[1] + k, 0, h - 1), p[2] + 0 * k, 1.0),
                 (p[0] + 0 * k, p[1] + 0 * k, np.clip(p[2] + k, 0, w - 1), 1.0),
                 (p[0] + 0 * k, np.clip(p[1] + k, 0, h - 1), np.clip(p[2] + k, 0, w - 1), np.sqrt(2)),
                 (p[0] + 0 * k, np.clip(p[1] + k, 0, h - 1), np.clip(p[2] - k, 0, w - 1), np.sqrt(2))]
        widths_along = [fwhm(signal[iz, iy, ix], reach) * scale for iz, iy, ix, scale in lines]
        across = np.nanmin(widths_along[1:]) if not np.all(np.isnan(widths_along[1:])) else np.nan
        if not np.isnan(across):
            yx.append(across)
        if not np.isnan(widths_along[0]):
            z.append(widths_along[0])
    return np.median(yx), np.median(z)


def stripes(v, bg, fg, noise):
    """Relative spread of background-normalised column means (varying across x) and row means (across y),
    per slice, after removing trends longer than 40 voxels and the spread noise alone would give."""
    ratio = np.where(fg | (v >= 65535), np.nan, v / bg)
    out = []
    for axis in (1, 2):  # mean over y: a profile across x; mean over x: a profile across y
        prof = np.nanmean(ratio, axis=axis)  # (z, x) or (z, y)
        n = np.sum(~np.isnan(ratio), axis=axis)
        prof = np.where(n > 0, prof, 1.0)
        trend = ndimage.uniform_filter1d(prof, size=41, axis=1, mode="nearest")
        spread = np.std(prof - trend)
        floor = noise / np.median(bg) / np.sqrt(np.median(n))
        out.append(np.sqrt(max(spread ** 2 - floor ** 2, 0)))
    return out  # [across x, across y]


def measure(v, rng):
    s = {"shape": "x".join(map(str, v.shape))}
    p = np.percentile(v, PERCENTILES)
    s.update({f"p{q:g}": float(x) for q, x in zip(PERCENTILES, p)})
    s["mean"] = float(v.mean())
    s["saturated %"] = 100 * float(np.mean(v == 65535))
    s["background"] = float(np.median(v))
    s["dark"] = float(np.percentile(v, 0.5))
    bg = local_background(v)
    s["noise sigma"] = float(noise_sigma(v))
    response = rough_response(v)
    rough = response > 6 * s["noise sigma"]
    s["foreground %"] = 100 * float(rough.mean())
    s["contrast"] = (float(np.median(v[rough])) - s["background"]) / s["background"]
    above = v[rough].astype(np.float32) - bg[rough]
    s["axon above local bg"] = float(np.median(above))
    s["axon p90 above local bg"] = float(np.percentile(above, 90))
    components, _ = ndimage.label(rough, structure=np.ones((3, 3, 3)))  # 26-connected
    fine = rough & (np.bincount(components.ravel())[components] >= 10)
    skeleton = skeletonize(fine).astype(bool)
    s["skeleton / 1000"] = 1000 * float(skeleton.mean())
    signal = ndimage.gaussian_filter(v.astype(np.float32) - bg, 0.5)  # a little less noise for the half maxima
    s["width yx"], s["width z"] = map(float, widths(signal, skeleton, rng))
    s["stripes x %"], s["stripes y %"] = (100 * float(x) for x in stripes(v, bg, rough, s["noise sigma"]))
    return s


def write_images(real, synth, folder):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # MIPs over the same depth, both on the real volume's 0.1-99.9 % range of its projection.
    depth = min(real.shape[0], synth.shape[0])
    mips = [real[:depth].max(0), synth[:depth].max(0)]
    lo, hi = np.percentile(mips[0], [0.1, 99.9])
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.2), dpi=100)
    for ax, mip, title in zip(axes, mips, ["real (brain example)", "synthetic"]):
        ax.imshow(mip, cmap="gray", vmin=lo, vmax=hi, interpolation="antialiased")
        ax.set_title(f"{title}: MIP of {depth} slices, {mip.shape[0]} x {mip.shape[1]}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(folder, "synth_compare_mip.png"), dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    edges = np.geomspace(500, 65536, 121)
    for v, label in [(real, "real"), (synth, "synthetic")]:
        counts, _ = np.histogram(v, bins=edges)
        ax.stairs(counts / v.size, edges, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("intensity (ADU), log bins")
    ax.set_ylabel("fraction of voxels")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(folder, "synth_compare_histogram.png"), dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", required=True, help="folder of 2-d slices or a multi-page TIFF")
    parser.add_argument("--synth", required=True, nargs="+", help="synthetic volume.tiff files")
    parser.add_argument("--crop", help="Z0,Y0,X0,D,H,W of the real volume")
    parser.add_argument("--images", help="folder to write synth_compare_{mip,histogram}.png into")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    crop = [int(x) for x in args.crop.split(",")] if args.crop else None
    real = read_volume(args.real, crop)
    rng = np.random.default_rng(0)
    rows = [measure(real, rng)]
    first = None
    for path in args.synth:  # one at a time: a 600 x 600 x 100 volume and its filters take ~1 GB
        synth = read_volume(path)
        rows.append(measure(synth, rng))
        first = synth if first is None else first
    names = ["real"] + [os.path.basename(os.path.dirname(os.path.abspath(p))) or p for p in args.synth]
    if args.markdown:
        print("| statistic | " + " | ".join(names) + " | synthetic / real |")
        print("| --- " * (len(names) + 2) + "|")
    for key in rows[0]:
        values = [row[key] for row in rows]
        a = values[0]
        ratio = f"{np.mean(values[1:]) / a:.2f}" if isinstance(a, float) and a != 0 else ""
        cells = [x if isinstance(x, str) else f"{x:.4g}" for x in values]
        if args.markdown:
            print(f"| {key} | " + " | ".join(cells) + f" | {ratio} |")
        else:
            print(f"{key:>24} " + " ".join(f"{c:>12}" for c in cells) + f" {ratio:>6}")
    if args.images:
        write_images(real, first, args.images)


if __name__ == "__main__":
    main()
