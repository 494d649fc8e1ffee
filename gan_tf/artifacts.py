"""Files a run leaves behind: image grids, the progress GIF, loss curves, config."""
import csv
import dataclasses
import json
import math
import os
import platform
import sys

import numpy as np
from PIL import Image


def to_uint8(images):
    """Images in [-1, 1] -> uint8 in [0, 255]."""
    images = np.nan_to_num(np.asarray(images, np.float32))  # a diverged run: NaN -> 0
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def image_grid(images, columns=None, padding=2):
    """Tiles images [n, h, w, c] in [-1, 1] into one uint8 picture, row-major."""
    images = to_uint8(images)
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding, c),
                   128, np.uint8)
    for i, image in enumerate(images):
        top = padding + (i // columns) * (h + padding)
        left = padding + (i % columns) * (w + padding)
        grid[top:top + h, left:left + w] = image
    return grid


def save_grid(images, path, columns=None):
    """PNG of `image_grid`; small images are enlarged (nearest) to be legible."""
    grid = image_grid(images, columns)
    scale = max(1, 64 // images.shape[1])
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)


def save_gif(frame_paths, path, max_frames=100, frame_ms=200):
    """Animates the given PNGs in order, keeping at most `max_frames` evenly spaced."""
    if not frame_paths:
        return
    keep = np.unique(np.linspace(0, len(frame_paths) - 1, max_frames).round().astype(int))
    write_gif([Image.open(frame_paths[i]) for i in keep], path, frame_ms,
              last_frame_ms=2000)  # hold the final result


def write_gif(frames, path, frame_ms=200, last_frame_ms=None):
    """A looping GIF of `frames`: PIL images or uint8 arrays [h, w] / [h, w, c]."""
    frames = [f if isinstance(f, Image.Image) else
              Image.fromarray(f[..., 0] if f.ndim == 3 and f.shape[-1] == 1 else f)
              for f in frames]
    frames = [f.convert('P') for f in frames]
    durations = [frame_ms] * (len(frames) - 1) + [last_frame_ms or frame_ms]
    frames[0].save(path, save_all=True, append_images=frames[1:],
                   duration=durations, loop=0)


def read_metrics(csv_path):
    """metrics.csv as {column: np.array}."""
    with open(csv_path, newline='') as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def plot_curves(csv_path, png_path):
    """Four panels against step: losses, D's mean output, D's accuracy, and the
    players' gradient norms (log scale)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    m = read_metrics(csv_path)
    if not m:
        return
    panels = [('Losses', [('d_loss', 'D loss'), ('g_loss', 'G loss')]),
              ('Discriminator output', [('D_x', 'D(x), real'),
                                        ('D_G_z', 'D(G(z)), fake')]),
              ('Discriminator accuracy', [('acc_real', 'on real'),
                                          ('acc_fake', 'on fake')]),
              ('Gradient norm', [('d_grad_norm', 'D'), ('g_grad_norm', 'G')])]
    fig, axes = plt.subplots(1, 4, figsize=(20, 4))
    for ax, (title, series) in zip(axes, panels):
        for key, label in series:
            if key in m:  # runs from before a metric existed lack its column
                ax.plot(m['step'], m[key], label=label)
        ax.set_title(title)
        ax.set_xlabel('step')
        ax.grid(alpha=0.3)
        ax.legend()
    axes[2].axhline(0.5, color='gray', lw=0.8, ls='--')
    axes[2].set_ylim(-0.02, 1.02)
    axes[3].set_yscale('log')
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def library_versions():
    from importlib import metadata

    import keras
    import matplotlib
    import tensorflow as tf
    import tensorflow_datasets as tfds
    return {'gan_tf': metadata.version('gan_tf'), 'python': sys.version.split()[0],
            'platform': platform.platform(), 'tensorflow': tf.__version__,
            'keras': keras.__version__, 'tensorflow_datasets': tfds.__version__,
            'numpy': np.__version__, 'matplotlib': matplotlib.__version__,
            'absl-py': metadata.version('absl-py')}


def read_config(path):
    """A run's config.json as a dict ({} when it is missing or unreadable)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def write_config(path, config, **extra):
    """config.json: every option, plus `extra` (data source, step, ...) and versions."""
    record = {'config': dataclasses.asdict(config), **extra,
              'versions': library_versions(), 'argv': sys.argv}
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=2, default=str)
    os.replace(tmp, path)
