"""Images from an exported generator: `python -m gan_tf.sample`.

    python -m gan_tf.sample --export_dir=out/RUN/export --num=64 --out=grid.png
    python -m gan_tf.sample --export_dir=... --npy=samples.npy --num=10000
    python -m gan_tf.sample --export_dir=... --interpolate --out=walk.gif

Needs only the SavedModel: z is drawn from the noise distribution recorded in its
`assets/config.json`, seeded by --seed exactly as the export's `generate` signature
draws it, and fed to `serving_default`.
"""
import json
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
                config = json.load(f)['config']
            self.serve = tf.saved_model.load(export_dir).signatures['serving_default']
        except (OSError, KeyError) as e:
            raise UserError(f'{export_dir} is not a gan_tf export ({e}): pass the '
                            'export/ folder of a run') from None
        self.latent_dim, self.noise_kind = config['latent_dim'], config['noise']

    def noise(self, num, seed, stream=0):
        """z for `seed`, the same as the export's `generate` signature draws."""
        return noise_from_seed(self.noise_kind, num, self.latent_dim, seed, stream)

    def images(self, z, batch_size=1000):
        """Generator outputs in [-1, 1] for noise `z`, NHWC."""
        return np.concatenate([self.serve(z=z[i:i + batch_size])['images'].numpy()
                               for i in range(0, len(z), batch_size)])

    def sample(self, num, seed=0):
        return self.images(self.noise(num, seed))

    def walk(self, num, seed=0, waypoints=4, frames_between=12):
        """Frames [n_frames, num, h, w, c] of `num` images, each following its own
        closed path through `waypoints` random latent points."""
        points = [self.noise(num, seed, stream).numpy() for stream in range(waypoints)]
        frames = []
        for start, end in zip(points, points[1:] + points[:1]):
            for t in np.linspace(0, 1, frames_between, endpoint=False):
                frames.append(self.images(_interpolate(start, end, t, self.noise_kind)))
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


def main(argv):
    from absl import flags
    del argv
    FLAGS = flags.FLAGS
    try:
        exported = Exported(FLAGS.export_dir)
        if FLAGS.interpolate:
            grids = [artifacts.image_grid(frame) for frame in
                     exported.walk(FLAGS.num, FLAGS.seed)]
            artifacts.write_gif(grids, FLAGS.out or 'walk.gif', frame_ms=80)
            print(f'wrote {FLAGS.out or "walk.gif"}: {len(grids)} frames')
            return
        images = exported.sample(FLAGS.num, FLAGS.seed)
        if FLAGS.npy:
            np.save(FLAGS.npy, images)
            print(f'wrote {FLAGS.npy}: {images.shape} float32 in [-1, 1]')
        if FLAGS.out or not FLAGS.npy:
            artifacts.save_grid(images, FLAGS.out or 'samples.png')
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
    flags.mark_flag_as_required('export_dir')
    app.run(main)


if __name__ == '__main__':
    run()
