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

Re-export a run's latest checkpoint: `python -m gan_tf.export`.
"""
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from gan_tf import artifacts
from gan_tf.errors import UserError
from gan_tf.latent import noise_from_seed


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
    staging = None
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix='.export-', dir=parent)
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
        artifacts.directory_mode(staging)  # readable as any folder, by a server too
        artifacts.replace_directory(staging, export_dir)
        staging = None
    except (OSError, tf.errors.OpError) as e:  # a full disk, a read-only folder
        raise artifacts.write_failure(export_dir, e) from None
    finally:
        if staging:
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


def _to_uint8(images):
    return tf.cast(tf.round(tf.clip_by_value(images, -1.0, 1.0) * 127.5 + 127.5),
                   tf.uint8)
