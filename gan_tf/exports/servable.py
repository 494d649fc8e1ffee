"""The generator as every export format takes it (`Servable`), the z -> images
function the converted formats carry, and the README each format's folder gets.

LiteRT and ONNX carry only the deterministic part: float32 `z` [batch,
latent_dim] (and, for a class-conditional generator, int32 `labels` [batch]) ->
float32 `images` [batch, h, w, c] in [-1, 1]; z is drawn by the client. Unlike
the SavedModel's signatures, they do not check the labels' range: a label out
of range gives an all-zero class code, so the READMEs' snippets check it.
"""
import dataclasses
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from gan_tf.errors import UserError

TO_UINT8 = 'np.round(np.clip(images, -1, 1) * 127.5 + 127.5).astype(np.uint8)'


@dataclasses.dataclass(frozen=True)
class Servable:
    """What an export is written from.

    `generator`: the generator to sample from, as trained (the SavedModel serves
    it), called `generator(z, training=False)`, or `generator(z, labels,
    training=False)` with `num_classes`. `float32_generator`: the same weights
    computing in float32, for the converters, which cannot take a
    mixed-precision generator; None when `generator` itself computes in float32.
    `noise`: the distribution z was drawn from in training. `assets`: file name
    -> text, stored in the SavedModel's assets/ (the run's config.json).
    `class_names`: a conditional generator's class names, index by index (a
    folder's class subfolders), where it has them: the SavedModel then also
    takes names.
    """
    generator: keras.Model
    latent_dim: int
    image_shape: tuple
    noise: str = 'normal'
    num_classes: int = 0
    assets: dict = dataclasses.field(default_factory=dict)
    float32_generator: Optional[keras.Model] = None
    class_names: tuple = ()

    @property
    def converted(self):
        """The generator the converted formats are made from (float32)."""
        return self.float32_generator or self.generator

    def images_function(self):
        """tf.function z[, labels] -> {'images': float32 in [-1, 1]} of the float32
        generator, any batch size: its argument names and output key become the
        converted models' input and output names."""
        generator = self.converted
        z = tf.TensorSpec([None, self.latent_dim], tf.float32, name='z')
        if not self.num_classes:
            return tf.function(lambda z: {'images': generator(z, training=False)},
                               input_signature=[z])
        labels = tf.TensorSpec([None], tf.int32, name='labels')
        return tf.function(lambda z, labels: {'images': generator(z, labels,
                                                                   training=False)},
                           input_signature=[z, labels])

    def example_inputs(self, batch, seed=0):
        """(z, labels or None) as numpy arrays: z from the training distribution,
        labels cycling through the classes."""
        rng = np.random.default_rng(seed)
        shape = (batch, self.latent_dim)
        z = (rng.uniform(-1, 1, shape) if self.noise == 'uniform'
             else rng.standard_normal(shape)).astype(np.float32)
        labels = (np.arange(batch, dtype=np.int32) % self.num_classes
                  if self.num_classes else None)
        return z, labels

    def check(self, images_of, what):
        """UserError unless `images_of(z, labels)`, a converted model just loaded
        in its runtime, gives finite images of the generator's shape."""
        z, labels = self.example_inputs(2)
        images = np.asarray(images_of(z, labels))
        expected = (2, *self.image_shape)
        if images.shape != expected:
            problem = f'images of shape {list(images.shape)}, not {list(expected)}'
        elif not np.all(np.isfinite(images)):
            problem = 'images that are not finite'
        else:
            return
        raise UserError(f'{what}: the converted generator gives {problem}; export '
                        'without this format, and report it with the --arch')


def numpy_draw(servable, num=16):
    """Python text drawing `num` z of `servable` with numpy's `rng`."""
    if servable.noise == 'uniform':
        return f'rng.uniform(-1, 1, ({num}, {servable.latent_dim}))'
    return f'rng.standard_normal(({num}, {servable.latent_dim}))'


def readme(servable, title, intro, runtime_lines):
    """A converted format's README.md: its inputs and output, how to make uint8
    images of them, and a sampling snippet whose runtime part is `runtime_lines`
    (computing `images` from `z` and, if conditional, `labels`)."""
    s = servable
    h, w, c = s.image_shape
    lines = [f'# {title}', '', intro, '',
             f'- input `z`: float32 `[batch, {s.latent_dim}]`, drawn from '
             + ('the uniform distribution on [-1, 1]' if s.noise == 'uniform'
                else 'the standard normal distribution') + ', as in training.']
    if s.num_classes:
        lines.append(f'- input `labels`: int32 `[batch]`, the class of each image, in '
                     f'0..{s.num_classes - 1}. This model does not check the range '
                     '(the SavedModel does): a label out of range gives an image of '
                     'no class.')
    lines += [f'- output `images`: float32 `[batch, {h}, {w}, {c}]` in [-1, 1]; as '
              f'uint8 pixels: `{TO_UINT8}`.',
              '- Any batch size. Random draws stay here, on the client side: the '
              "SavedModel's `generate` signature draws z with TensorFlow's stateless "
              'generator, so the same seed gives other images here.',
              '', '```python', 'import numpy as np', '',
              'rng = np.random.default_rng(7)',
              f'z = {numpy_draw(s)}.astype(np.float32)']
    if s.num_classes:
        lines += [f'labels = np.arange(16, dtype=np.int32) % {s.num_classes}',
                  f'assert 0 <= labels.min() and labels.max() < {s.num_classes}  '
                  '# not checked by the model']
    lines += [*runtime_lines, f'pixels = {TO_UINT8}  # [16, {h}, {w}, {c}] uint8',
              '```', '']
    return '\n'.join(lines)
