"""Files a run leaves behind, and how each is written so that nothing is lost.

Image grids, the progress GIF, loss curves, CSV logs and config.json. Every file
is written beside its target and then renamed over it (`write_file`), so a write
that fails (a full disk, a folder that is not writable) leaves what was there
before and ends in one `UserError` line naming the path and the free space.
TensorFlow-free.
"""
import csv
import dataclasses
import io
import json
import math
import os
import platform
import shutil
import sys
import tempfile
from importlib import metadata

import numpy as np
from PIL import Image

from gan_tf.errors import UserError


# ------------------------------------------------------------------ safe writes

def free_space(path):
    """'1.2 GB free' on the disk holding `path` (or its nearest existing parent)."""
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    try:
        free = shutil.disk_usage(path or '.').free
    except OSError:
        return 'free space unknown'
    for unit in ('bytes', 'KB', 'MB', 'GB', 'TB'):
        if free < 1000 or unit == 'TB':
            return f'{free:.0f} {unit} free' if unit == 'bytes' else f'{free:.1f} {unit} free'
        free /= 1000


def write_failure(path, error):
    """The one-line UserError for a write of `path` that failed with `error`."""
    reason = getattr(error, 'strerror', None) or str(error).strip().splitlines()[0]
    reason = reason.rsplit('; ', 1)[-1]  # TF's: '<file>; No space left on device'
    parent = os.path.dirname(os.path.abspath(path))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        reason = f'{parent} is a file, not a folder'
    return UserError(f'could not write {path} ({reason}; {free_space(path)})')


def write_file(path, data):
    """Writes `data` (bytes or str) to `path` through a temporary file beside it,
    renamed over `path` once complete. UserError naming the path on failure, the
    old file (if any) untouched."""
    folder = os.path.dirname(os.path.abspath(path))
    temporary = None
    try:
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.',
                                             dir=folder)
        with os.fdopen(handle, 'wb') as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(temporary, 0o666 & ~_umask())  # as open() would have made it
        os.replace(temporary, path)
        temporary = None
    except OSError as e:
        raise write_failure(path, e) from None
    finally:
        if temporary:
            remove_files([temporary])


def replace_directory(new, target):
    """Moves folder `new` to `target`, deleting the old `target` only afterwards,
    so that a failure leaves one of the two complete."""
    old = None
    if os.path.exists(target):
        old = tempfile.mkdtemp(prefix=f'.{os.path.basename(target)}-old-',
                               dir=os.path.dirname(target))
        os.rmdir(old)
        os.rename(target, old)
    os.rename(new, target)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def directory_mode(path):
    """Gives folder `path` and the folders under it the permissions a new folder
    gets (mkdtemp makes them private to their owner, which a serving account
    could not read)."""
    mode = 0o777 & ~_umask()
    for folder, _, _ in os.walk(path):
        os.chmod(folder, mode)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_files(paths):
    """Deletes each of `paths`, file or folder, as far as it can."""
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                pass


# ------------------------------------------------------------------------ images

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


def _encoded(image, **options):
    buffer = io.BytesIO()
    image.save(buffer, **options)
    return buffer.getvalue()


def _picture(array):
    return Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[-1] == 1
                           else array)


def save_grid(images, path, columns=None):
    """PNG of `image_grid`; small images are enlarged (nearest) to be legible."""
    grid = image_grid(images, columns)
    scale = max(1, 64 // images.shape[1])
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    write_file(path, _encoded(_picture(grid), format='PNG'))


def save_gif(frame_paths, path, max_frames=100, frame_ms=200):
    """Animates the given PNGs in order, keeping at most `max_frames` evenly spaced."""
    if not frame_paths:
        return
    keep = np.unique(np.linspace(0, len(frame_paths) - 1, max_frames).round().astype(int))
    write_gif([Image.open(frame_paths[i]) for i in keep], path, frame_ms,
              last_frame_ms=2000)  # hold the final result


def write_gif(frames, path, frame_ms=200, last_frame_ms=None):
    """A looping GIF of `frames`: PIL images or uint8 arrays [h, w] / [h, w, c]."""
    frames = [(f if isinstance(f, Image.Image) else _picture(f)).convert('P')
              for f in frames]
    durations = [frame_ms] * (len(frames) - 1) + [last_frame_ms or frame_ms]
    write_file(path, _encoded(frames[0], format='GIF', save_all=True,
                              append_images=frames[1:], duration=durations, loop=0))


# ------------------------------------------------------------------- CSV and plots

def append_csv(path, columns, row):
    """Appends `row` to CSV file `path`, writing the header first if it is new."""
    new_file = not os.path.exists(path)
    with open(path, 'a', newline='') as f:
        out = csv.DictWriter(f, columns)
        if new_file:
            out.writeheader()
        out.writerow(row)


def truncate_csv(path, columns, step):
    """Drops the rows of CSV file `path` past `step`: left by a run killed after
    its last checkpoint, they would repeat once it resumes from there. Returns
    the columns to append with: the file's own, then those of `columns` it
    lacks (blank in its earlier rows), so that a run resumed with other columns
    loses none; `columns` for a new file."""
    if not os.path.exists(path):
        return tuple(columns)
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        rows = [r for r in reader if int(r['step']) <= step]
        header = reader.fieldnames or ()
    columns = (*header, *[c for c in columns if c not in header])
    text = io.StringIO()
    out = csv.DictWriter(text, columns)
    out.writeheader()
    out.writerows(rows)
    write_file(path, text.getvalue())
    return columns


def read_metrics(csv_path):
    """metrics.csv as {column: np.array}."""
    with open(csv_path, newline='') as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    # A column added after a run started is empty in its earlier rows: NaN there.
    return {k: np.array([float(r[k]) if r.get(k) not in (None, '') else np.nan
                         for r in rows]) for k in rows[0]}


def plot_curves(csv_path, png_path):
    """Four panels against step: losses, D's mean output, D's accuracy, and the
    players' gradient norms (log scale)."""
    import matplotlib  # a second's import, for this one figure: only here
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # after use('Agg'): no screen needed

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
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=100)
    plt.close(fig)
    write_file(png_path, buffer.getvalue())


# ------------------------------------------------------------------- config.json

def library_versions():
    versions = {'gan_tf': metadata.version('gan_tf'), 'python': sys.version.split()[0],
                'platform': platform.platform(), 'numpy': np.__version__}
    for package in ('tensorflow', 'keras', 'tensorflow_datasets', 'matplotlib', 'absl'):
        module = sys.modules.get(package)  # imported: its own version, whatever the wheel
        try:
            versions[package] = getattr(module, '__version__', None) or metadata.version(
                package.replace('_', '-').replace('absl', 'absl-py'))
        except metadata.PackageNotFoundError:
            pass
    return versions


def read_record(path):
    """A run's config.json (or an export's copy of it) as a dict; {} when it is
    missing or unreadable."""
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def record_text(config, **extra):
    """config.json's text: every option, plus `extra` (data source, step, ...),
    the library versions and the command line."""
    return json.dumps({'config': dataclasses.asdict(config), **extra,
                       'versions': library_versions(), 'argv': sys.argv},
                      indent=2, default=str)
