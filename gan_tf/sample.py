"""Images from an exported generator: `python -m gan_tf.sample`.

    python -m gan_tf.sample --export_dir=out/RUN/export --num=64 --out=grid.png
    python -m gan_tf.sample --export_dir=... --npy=samples.npy --num=10000
    python -m gan_tf.sample --export_dir=... --interpolate --out=walk.gif
    python -m gan_tf.sample --export_dir=... --labels=3 --num=16   # conditional

Needs only the SavedModel: z is drawn from the noise distribution recorded in its
`assets/config.json`, seeded by --seed exactly as the export's `generate` signature
draws it, and fed to `serving_default`. A class-conditional export is also fed
labels: the --num images are split among the classes of --labels (default: all),
one row per class in the grid.
"""
import json
import math
import os

import numpy as np

from gan_tf import artifacts
from gan_tf.errors import UserError
from gan_tf.export import noise_from_seed


class Exported:
    """A SavedModel export of a generator, and how to draw its noise."""

    def __init__(self, export_dir):
        import tensorflow as tf
        try:
            with open(os.path.join(export_dir, 'assets', 'config.json')) as f:
                record = json.load(f)
            config = record['config']
            self.serve = tf.saved_model.load(export_dir).signatures['serving_default']
        except (OSError, KeyError) as e:
            raise UserError(f'{export_dir} is not a gan_tf export ({e}): pass the '
                            'export/ folder of a run') from None
        self.latent_dim, self.noise_kind = config['latent_dim'], config['noise']
        # 0: unconditional (also every export written before --conditional existed).
        self.num_classes = record['num_classes'] if config.get('conditional') else 0

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
        return noise_from_seed(self.noise_kind, num, self.latent_dim, seed, stream)

    def images(self, z, labels=None, batch_size=1000):
        """Generator outputs in [-1, 1] for noise `z`, NHWC. Conditional exports:
        of classes `labels`, one per image, by default image i of class
        i % num_classes (as the generator itself draws them)."""
        inputs = {'z': z}
        if self.num_classes or labels is not None:
            if labels is None:
                labels = np.arange(len(z)) % self.num_classes
            self.check_labels(np.unique(labels))
            inputs['labels'] = np.asarray(labels, np.int32)
        return np.concatenate([
            self.serve(**{k: v[i:i + batch_size] for k, v in inputs.items()})['images'].numpy()
            for i in range(0, len(z), batch_size)])

    def sample(self, num, seed=0, labels=None):
        return self.images(self.noise(num, seed), labels)

    def walk(self, num, seed=0, waypoints=4, frames_between=12, labels=None):
        """Frames [n_frames, num, h, w, c] of `num` images, each following its own
        closed path through `waypoints` random latent points (and keeping its
        label, for a conditional export)."""
        points = [self.noise(num, seed, stream).numpy() for stream in range(waypoints)]
        frames = []
        for start, end in zip(points, points[1:] + points[:1]):
            for t in np.linspace(0, 1, frames_between, endpoint=False):
                frames.append(self.images(_interpolate(start, end, t, self.noise_kind),
                                          labels))
        return np.stack(frames)


def _interpolate(a, b, t, noise):
    """Linear for uniform noise; spherical for normal noise, so that intermediate
    points keep the norm typical of Gaussian samples (White 2016, "Sampling
    generative networks")."""
    if noise == 'uniform':
        return (1 - t) * a + t * b
    cos = np.sum(a * b, axis=1, keepdims=True) / (
        np.linalg.norm(a, axis=1, keepdims=True) * np.linalg.norm(b, axis=1, keepdims=True))
    omega = np.arccos(np.clip(cos, -1, 1))
    sin = np.maximum(np.sin(omega), 1e-6)
    return (np.sin((1 - t) * omega) / sin * a + np.sin(t * omega) / sin * b).astype(np.float32)


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


def main(argv):
    from absl import flags
    del argv
    FLAGS = flags.FLAGS
    try:
        exported = Exported(FLAGS.export_dir)
        try:
            classes = [int(label) for label in FLAGS.labels]
        except ValueError:
            raise UserError(f'--labels={",".join(FLAGS.labels)}: expected class '
                            'numbers, e.g. --labels=3 or --labels=0,1,2') from None
        labels, columns = image_labels(exported, FLAGS.num, classes)
        if FLAGS.interpolate:
            grids = [artifacts.image_grid(frame, columns) for frame in
                     exported.walk(FLAGS.num, FLAGS.seed, labels=labels)]
            artifacts.write_gif(grids, FLAGS.out or 'walk.gif', frame_ms=80)
            print(f'wrote {FLAGS.out or "walk.gif"}: {len(grids)} frames')
            return
        images = exported.sample(FLAGS.num, FLAGS.seed, labels)
        if FLAGS.npy:
            np.save(FLAGS.npy, images)
            print(f'wrote {FLAGS.npy}: {images.shape} float32 in [-1, 1]')
        if FLAGS.out or not FLAGS.npy:
            artifacts.save_grid(images, FLAGS.out or 'samples.png', columns)
            print(f'wrote {FLAGS.out or "samples.png"}: {len(images)} images')
    except (UserError, OSError) as e:
        raise SystemExit(f'error: {e}') from None


def run():
    from absl import app, flags
    flags.DEFINE_string('export_dir', None, 'A run\'s export/ folder.')
    flags.DEFINE_integer('num', 64, 'Images (per frame, with --interpolate).',
                         lower_bound=1)
    flags.DEFINE_integer('seed', 0, 'Seed of the noise: same seed, same images.')
    flags.DEFINE_string('out', '', 'PNG grid (default samples.png), or the GIF with '
                        '--interpolate (default walk.gif).')
    flags.DEFINE_string('npy', '', 'Also write the images, float32 NHWC in [-1, 1].')
    flags.DEFINE_bool('interpolate', False, 'A GIF walking between latent points.')
    flags.DEFINE_list('labels', [], 'Class-conditional exports: the classes to draw, '
                      'e.g. 3 or 0,1,2; the images are split among them (default: '
                      'all classes).')
    flags.mark_flag_as_required('export_dir')
    app.run(main)


if __name__ == '__main__':
    run()
