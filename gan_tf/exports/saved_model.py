"""The generator as a self-contained SavedModel for TF Serving or any TF process.

Signatures (loading them needs TensorFlow only, not gan_tf):
  serving_default  float32 `z` [batch, latent_dim] -> float32 `images`
                   [batch, height, width, channels] in [-1, 1].
  generate         int32 `num`, int64 `seed` -> uint8 `images` [num, h, w, c] in
                   0..255, drawing z from the training noise distribution;
                   the same seed always gives the same images.
A class-conditional generator's export also takes int32 `labels`, in
[0, num_classes): [batch] in `serving_default`, [num] in `generate`; where its
classes have names (a folder's class subfolders, tensorflow-datasets' label
names), also
  generate_by_name int32 `num`, int64 `seed`, string `class_names` [num] -> the
                   uint8 `images` of `generate` with those classes' labels.
The run's config.json (with `config.conditional`, `num_classes` and
`class_names`) is stored under `assets/`.

Written by `gan_tf.exports.write`, which also writes the converted formats;
re-export a run's latest checkpoint with `python -m gan_tf.export`.
"""
import os

import keras
import tensorflow as tf

from gan_tf import artifacts
from gan_tf.exports.servable import TO_UINT8, numpy_draw
from gan_tf.latent import noise_from_seed


def write(servable, path):
    """Writes the SavedModel of `servable.generator` (a `servable.Servable`) into
    the new or empty folder `path`, with `servable.assets` under assets/ and a
    README.md. `gan_tf.exports.write` stages the folder and swaps it in."""
    generator = servable.generator
    archive = keras.export.ExportArchive()
    archive.track(generator)
    if servable.num_classes:
        _add_conditional_endpoints(archive, generator, servable.latent_dim,
                                   servable.noise, servable.num_classes,
                                   servable.class_names)
    else:
        _add_endpoints(archive, generator, servable.latent_dim, servable.noise)
    archive.write_out(path, verbose=False)
    os.makedirs(os.path.join(path, 'assets'), exist_ok=True)
    for name, text in servable.assets.items():
        artifacts.write_file(os.path.join(path, 'assets', name), text)
    artifacts.write_file(os.path.join(path, 'README.md'), readme(servable))


def load(path):
    """The SavedModel at `path` as a function (z, labels=None) -> float32 images,
    through its `serving_default` signature."""
    serve = tf.saved_model.load(path).signatures['serving_default']

    def images(z, labels=None):
        inputs = {'z': tf.constant(z, tf.float32)}
        if labels is not None:
            inputs['labels'] = tf.constant(labels, tf.int32)
        return serve(**inputs)['images'].numpy()
    return images


def readme(servable):
    """The export folder's README.md: the signatures and how to call them."""
    s = servable
    h, w, c = s.image_shape
    labels = ', labels=tf.constant(labels, tf.int32)' if s.num_classes else ''
    checked = (f', `labels` int32 `[batch]` in 0..{s.num_classes - 1} (checked)'
               if s.num_classes else '')
    distribution = 'uniform on [-1, 1]' if s.noise == 'uniform' else 'standard normal'
    return '\n'.join([
        '# The generator as a SavedModel', '',
        'For TF Serving and any TensorFlow process (gan_tf not needed). Signatures:', '',
        f'- `serving_default`: `z` float32 `[batch, {s.latent_dim}]` ({distribution}, '
        f'as in training){checked} -> `images` float32 `[batch, {h}, {w}, {c}]` in '
        '[-1, 1].',
        f'- `generate`: `num` int32 and `seed` int64 scalars'
        f'{", `labels` int32 `[num]`" if s.num_classes else ""} -> `images` uint8 '
        f'`[num, {h}, {w}, {c}]`, z drawn inside: the same seed, the same images.',
        *([f'- `generate_by_name`: `num`, `seed` and `class_names` string `[num]`, '
           f'each one of {", ".join(s.class_names)} -> the images of `generate` '
           'with those classes (an unknown name is refused).'] if s.class_names else []),
        '',
        'The folders litert/ and onnx/, where exported (`--export_formats`), hold the '
        'same generator converted for other runtimes, each with its README.md. TF '
        'Serving reads a copy of this folder named by a version number (`1/`).', '',
        '```python', 'import numpy as np', 'import tensorflow as tf', '',
        "export = tf.saved_model.load('.')  # this folder",
        'rng = np.random.default_rng(7)',
        f'z = {numpy_draw(s)}.astype(np.float32)',
        *([f'labels = np.arange(16) % {s.num_classes}'] if s.num_classes else []),
        f"images = export.signatures['serving_default'](z=tf.constant(z){labels})"
        "['images'].numpy()",
        f'pixels = {TO_UINT8}',
        '# or uint8 images of z drawn inside, from a seed:',
        "pixels = export.signatures['generate'](num=tf.constant(16), "
        f'seed=tf.constant(7, tf.int64){labels})'
        "['images'].numpy()",
        '```', ''])


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


def _add_conditional_endpoints(archive, generator, latent_dim, noise, num_classes,
                               class_names=()):
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
    if not class_names:
        return
    # Names -> labels in the graph, so that a TF Serving client needs no
    # mapping of its own; an unknown name maps to -1 and is refused by name.
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(class_names, tf.string),
            tf.range(len(class_names), dtype=tf.int32)), default_value=-1)
    archive.track(table)
    shown = ', '.join(class_names[:10]) + (', ...' if len(class_names) > 10 else '')

    def by_name(num, seed, names):
        labels = table.lookup(names)
        known = tf.debugging.assert_non_negative(
            labels, message=f'unknown class name; give one of {shown}')
        with tf.control_dependencies([known]):
            return {'images': _to_uint8(images(noise_from_seed(noise, num, latent_dim, seed),
                                               tf.identity(labels)))}
    archive.add_endpoint(
        name='generate_by_name', fn=by_name,
        input_signature=[tf.TensorSpec([], tf.int32, name='num'),
                         tf.TensorSpec([], tf.int64, name='seed'),
                         tf.TensorSpec([None], tf.string, name='class_names')])


def _to_uint8(images):
    return tf.cast(tf.round(tf.clip_by_value(images, -1.0, 1.0) * 127.5 + 127.5),
                   tf.uint8)
