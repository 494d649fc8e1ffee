"""The generator as a self-contained SavedModel for TF Serving or any TF process.

Signatures (loading them needs TensorFlow only, not gan_tf):
  serving_default  float32 `z` [batch, latent_dim] -> float32 `images`
                   [batch, height, width, channels] in [-1, 1].
  generate         int32 `num`, int64 `seed` -> uint8 `images` [num, h, w, c] in
                   0..255, drawing z from the training noise distribution;
                   the same seed always gives the same images.
A class-conditional generator's export also takes int32 `labels`, in
[0, num_classes): [batch] in `serving_default`, [num] in `generate`. The run's
config.json (with `config.conditional` and `num_classes`) is stored under `assets/`.

Re-export a run's latest checkpoint:
    python -m gan_tf.export --run_dir=out/RUN [--export_dir=DIR] [--overwrite]
"""
import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from gan_tf.errors import UserError


def export_generator(generator, latent_dim, noise, export_dir, assets=None,
                     overwrite=True, num_classes=0):
    """Writes the SavedModel to `export_dir`; returns its absolute path.

    The export is written beside `export_dir` first and only then swapped in, so
    an interrupted export never replaces a good one. An existing export is
    replaced only if `overwrite`. `assets` maps file names to text stored under
    `<export_dir>/assets/`. `num_classes`: the generator is class-conditional,
    and both signatures take labels.
    """
    export_dir = os.path.abspath(export_dir)
    if os.path.exists(export_dir) and not overwrite:
        raise UserError(f'{export_dir} already exists: pass --overwrite to replace '
                        'it, or choose another --export_dir')
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix='.export-', dir=parent)
    try:
        archive = keras.export.ExportArchive()
        archive.track(generator)
        if num_classes:
            _add_conditional_endpoints(archive, generator, latent_dim, noise, num_classes)
        else:
            _add_endpoints(archive, generator, latent_dim, noise)
        archive.write_out(staging, verbose=False)
        os.makedirs(os.path.join(staging, 'assets'), exist_ok=True)
        for name, text in (assets or {}).items():
            with open(os.path.join(staging, 'assets', name), 'w') as f:
                f.write(text)
        _swap_in(staging, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def _add_endpoints(archive, generator, latent_dim, noise):
    archive.add_endpoint(
        name='serving_default',
        # ensure_shape: a wrong-sized z fails naming z's shape, not deep
        # inside a matmul (concrete signatures do not check shapes).
        fn=lambda z: {'images': generator(tf.ensure_shape(z, [None, latent_dim]),
                                          training=False)},
        input_signature=[tf.TensorSpec([None, latent_dim], tf.float32, name='z')])
    archive.add_endpoint(
        name='generate',
        fn=lambda num, seed: {'images': _to_uint8(
            generator(noise_from_seed(noise, num, latent_dim, seed), training=False))},
        input_signature=[tf.TensorSpec([], tf.int32, name='num'),
                         tf.TensorSpec([], tf.int64, name='seed')])


def _add_conditional_endpoints(archive, generator, latent_dim, noise, num_classes):
    def images(z, labels):
        checks = [
            tf.debugging.assert_equal(tf.size(labels), tf.shape(z)[0],
                                      message='give one label per image'),
            # Out of range, a label would index past the embedding: on a GPU, silently.
            tf.debugging.assert_non_negative(labels, message='labels must be >= 0'),
            tf.debugging.assert_less(labels, num_classes,
                                     message=f'labels must be < {num_classes}')]
        with tf.control_dependencies(checks):
            return generator(z, tf.identity(labels), training=False)

    archive.add_endpoint(
        name='serving_default',
        fn=lambda z, labels: {'images': images(tf.ensure_shape(z, [None, latent_dim]),
                                               labels)},
        input_signature=[tf.TensorSpec([None, latent_dim], tf.float32, name='z'),
                         tf.TensorSpec([None], tf.int32, name='labels')])
    archive.add_endpoint(
        name='generate',
        fn=lambda num, seed, labels: {'images': _to_uint8(
            images(noise_from_seed(noise, num, latent_dim, seed), labels))},
        input_signature=[tf.TensorSpec([], tf.int32, name='num'),
                         tf.TensorSpec([], tf.int64, name='seed'),
                         tf.TensorSpec([None], tf.int32, name='labels')])


def noise_from_seed(kind, num, latent_dim, seed, stream=0):
    """z as `GAN.sample_noise` draws it, but stateless: a function of (seed, stream).

    The `generate` signature uses stream 0; `gan_tf.sample` draws the same z.
    """
    shape = tf.stack([num, latent_dim])
    seed = tf.cast(tf.stack([seed, stream]), tf.int64)
    if kind == 'uniform':
        return tf.random.stateless_uniform(shape, seed, minval=-1.0, maxval=1.0)
    return tf.random.stateless_normal(shape, seed)


def _to_uint8(images):
    return tf.cast(tf.round(tf.clip_by_value(images, -1.0, 1.0) * 127.5 + 127.5),
                   tf.uint8)


def _swap_in(new_dir, target):
    """Moves `new_dir` to `target`; the old `target` is deleted only afterwards."""
    old = None
    if os.path.exists(target):
        old = tempfile.mkdtemp(prefix='.export-old-', dir=os.path.dirname(target))
        os.rmdir(old)
        os.rename(target, old)
    os.rename(new_dir, target)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def export_run(run_dir, export_dir='', overwrite=False):
    """Exports the generator of `run_dir`'s latest checkpoint; returns the path."""
    from gan_tf import train
    from gan_tf.config import Config
    try:
        with open(os.path.join(run_dir, 'config.json')) as f:
            config_text = f.read()
    except OSError as e:
        raise UserError(f'no run at {run_dir} ({e.strerror}): pass the run '
                        'directory, e.g. --run_dir=out/mnist-mlp-non_saturating') from None
    record = json.loads(config_text)
    config = Config.from_record(record['config'])
    gan = train.build_gan(config, tuple(record['image_shape']),
                          record.get('num_classes', 0))
    latest = tf.train.latest_checkpoint(os.path.join(run_dir, 'checkpoints'))
    if not latest:
        raise UserError(f'no checkpoint in {run_dir}/checkpoints to export')
    generator = train.restore_generator(gan, latest)
    return export_generator(generator, config.latent_dim, config.noise,
                            export_dir or os.path.join(run_dir, 'export'),
                            {'config.json': config_text},
                            overwrite=overwrite, num_classes=gan.num_classes)


def main(argv):
    from absl import flags
    del argv
    FLAGS = flags.FLAGS
    try:
        path = export_run(FLAGS.run_dir, FLAGS.export_dir, FLAGS.overwrite)
    except UserError as e:
        raise SystemExit(f'error: {e}') from None
    print(f'exported {path}')


if __name__ == '__main__':
    from absl import app, flags
    flags.DEFINE_string('run_dir', None, 'Run directory, e.g. out/mnist-mlp-non_saturating.')
    flags.DEFINE_string('export_dir', '', 'Where to write (default: <run_dir>/export).')
    flags.DEFINE_bool('overwrite', False, 'Replace an existing export.')
    flags.mark_flag_as_required('run_dir')
    app.run(main)
