"""Where samples come from after training: a generator from an export or from a
checkpoint, or a .npy file of images; and `python -m gan_tf.sample`.

Each source has `sample(num, seed)` -> (images in [-1, 1] NHWC, labels or None):
the same images for the same seed from an export and from the checkpoint it was
written from (z drawn as the export's `generate` signature draws it), and, for a
class-conditional generator, image i of class i % num_classes.
"""
import io
import math
import os

import numpy as np
import tensorflow as tf

from gan_tf import artifacts, latent, runs
from gan_tf.errors import UserError
from gan_tf.models.conditional import cycling_labels


class ExportedGenerator:
    """A SavedModel export of a generator (a run's export/ folder), and how to
    draw its noise, from the run's config.json in its assets."""

    def __init__(self, export_dir):
        record = artifacts.read_record(os.path.join(export_dir, 'assets', runs.RECORD))
        try:
            config = record['config']
            self.serve = tf.saved_model.load(export_dir).signatures['serving_default']
        except (OSError, KeyError) as e:
            raise UserError(f'{export_dir} is not a gan_tf export ({e}): pass the '
                            'export/ folder of a run') from None
        self.name = f'--export_dir={export_dir}'
        self.config = config  # the run's options
        self.latent_dim, self.noise_kind = config['latent_dim'], config['noise']
        # 0: unconditional (also every export written before --conditional existed).
        self.num_classes = record['num_classes'] if config.get('conditional') else 0
        self.class_names = record.get('class_names') or []  # index -> name

    def class_index(self, label):
        """The class number of `label`: a number, or one of the run's class
        names (a folder's subfolders, a tfds dataset's label names)."""
        if label.strip().isdigit():
            return int(label)
        if label in self.class_names:
            return self.class_names.index(label)
        raise UserError(f'--labels={label}: not a class of this export; its classes: '
                        + (', '.join(f'{i} ({name})' for i, name in
                                     enumerate(self.class_names)) or 'numbers only'))

    def check_labels(self, labels):
        """UserError unless every one of `labels` is a class of this export."""
        if not self.num_classes:
            raise UserError('--labels: this export is not class-conditional (its run '
                            'was trained without --conditional); leave --labels out')
        wrong = [label for label in labels if not 0 <= label < self.num_classes]
        if wrong:
            raise UserError(f'--labels={",".join(map(str, wrong))}: out of range; this '
                            f'export has classes 0 to {self.num_classes - 1}')

    def noise(self, num, seed, stream=0):
        """z for `seed`, the same as the export's `generate` signature draws."""
        return latent.noise_from_seed(self.noise_kind, num, self.latent_dim, seed,
                                      stream).numpy()

    def images(self, z, labels=None):
        """Generator outputs in [-1, 1] for noise `z`, NHWC. Conditional exports:
        of classes `labels`, one per image, by default image i of class
        i % num_classes (as the generator itself draws them)."""
        if not self.num_classes and labels is None:
            return latent.generate(lambda z: self.serve(z=z)['images'], z)
        if labels is None:
            labels = np.asarray(cycling_labels(len(z), self.num_classes))
        self.check_labels(np.unique(labels))
        return latent.generate(lambda z, labels: self.serve(z=z, labels=labels)['images'],
                               z, labels)

    def sample(self, num, seed=0, labels=None):
        if self.num_classes and labels is None:
            labels = np.asarray(cycling_labels(num, self.num_classes))
        return self.images(self.noise(num, seed), labels), labels

    def walk(self, num, seed=0, waypoints=4, frames_between=12, labels=None):
        """Frames [n_frames, num, h, w, c] of `num` images, each following its own
        closed path through `waypoints` random latent points (and keeping its
        label, for a conditional export)."""
        points = [self.noise(num, seed, stream) for stream in range(waypoints)]
        frames = []
        for start, end in zip(points, points[1:] + points[:1]):
            for t in np.linspace(0, 1, frames_between, endpoint=False):
                frames.append(self.images(latent.interpolate(start, end, t,
                                                             self.noise_kind), labels))
        return np.stack(frames)


class CheckpointedGenerator:
    """The generator of a training checkpoint (see `runs.load_generator` for the
    paths it takes), drawing z as its run's export would."""

    def __init__(self, path):
        gan, record, self.prefix = runs.load_generator(path)
        self.name = f'--checkpoint={path}'
        self.config = record['config']  # the run's options
        self.generator = gan.sampling_generator
        self.latent_dim, self.noise_kind = gan.latent_dim, gan.noise
        self.num_classes = gan.num_classes

    def sample(self, num, seed=0):
        z = latent.noise_from_seed(self.noise_kind, num, self.latent_dim, seed).numpy()
        if not self.num_classes:
            return latent.generate(lambda z: self.generator(z, training=False), z), None
        labels = np.asarray(cycling_labels(num, self.num_classes))
        return latent.generate(lambda z, labels: self.generator(z, labels, training=False),
                               z, labels), labels


class SamplesFile:
    """Images already generated: a .npy of images in [-1, 1], NHWC."""

    def __init__(self, path):
        self.name = f'--samples={path}'
        self.config = {}  # no run behind them
        self.images = load_samples(path)

    def sample(self, num=None, seed=None):
        return self.images, None


def load_samples(path):
    """The images of a .npy file; UserError naming the file if it holds none."""
    try:
        return np.load(path)
    except (EOFError, ValueError) as e:  # empty, cut short, pickled, not .npy
        raise UserError(f'--samples={path}: not a .npy array of images ({e}); '
                        'write one with numpy.save or gan_tf.sample --npy') from None
    except OSError as e:
        raise UserError(f'--samples={path}: {e.strerror}') from None


def open_source(export_dir='', checkpoint='', samples=''):
    """The source given (the first of them): an export, a checkpoint or a
    samples file."""
    if export_dir:
        return ExportedGenerator(export_dir)
    return CheckpointedGenerator(checkpoint) if checkpoint else SamplesFile(samples)


def image_labels(exported, num, classes):
    """(labels of `num` images, grid columns): the images split among `classes`
    (all of the export's if empty) in consecutive runs, one grid row each; (None,
    None) for an unconditional export."""
    if classes:
        exported.check_labels(classes)
    elif not exported.num_classes:
        return None, None
    classes = classes or list(range(exported.num_classes))
    per_class = math.ceil(num / len(classes))
    return np.repeat(classes, per_class)[:num], per_class if len(classes) > 1 else None


def sample(flags):
    """`python -m gan_tf.sample` (flags: see `gan_tf.sample`)."""
    exported = ExportedGenerator(flags.export_dir)
    labels, columns = image_labels(exported, flags.num,
                                   [exported.class_index(c) for c in flags.labels])
    if flags.interpolate:
        out = flags.out or 'walk.gif'
        grids = [artifacts.image_grid(frame, columns) for frame in
                 exported.walk(flags.num, flags.seed, labels=labels)]
        artifacts.write_gif(grids, out, frame_ms=80)
        print(f'wrote {out}: {len(grids)} frames')
        return
    images, _ = exported.sample(flags.num, flags.seed, labels)
    if flags.npy:
        buffer = io.BytesIO()
        np.save(buffer, images)
        artifacts.write_file(flags.npy, buffer.getvalue())
        print(f'wrote {flags.npy}: {images.shape} float32 in [-1, 1]')
    if flags.out or not flags.npy:
        out = flags.out or 'samples.png'
        artifacts.save_grid(images, out, columns)
        print(f'wrote {out}: {len(images)} images')

