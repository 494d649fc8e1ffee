"""Differentiable augmentation (DiffAugment) of the discriminator's inputs.

Zhao, Liu, Lin, Zhu & Han 2020, "Differentiable Augmentation for Data-Efficient
GAN Training". The same random transformations are applied to real and generated
images wherever D sees them, in the discriminator and in the generator step, so D
cannot tell the two apart by the augmentation, and the generator's gradient flows
back through them: every transformation here is differentiable in the images.

Images are [batch, height, width, channels] in [-1, 1]. `translation` and
`cutout` keep that range (they fill with 0, mid-grey); `color` may leave it, as
in the paper: clipping would cut D's gradient to G at saturated pixels.
Randomness comes from a `keras.random.SeedGenerator`, so runs are reproducible
(through `gan_tf.distribute.draw`: each replica transforms its own images).
"""
import keras
import tensorflow as tf

from gan_tf import registry
from gan_tf.distribute import draw


def color(images, seed):
    """Per image: brightness shift in [-0.5, 0.5), saturation scale in [0, 2),
    contrast scale in [0.5, 1.5). The paper's `rand_brightness`, `rand_saturation`,
    `rand_contrast` (saturation does nothing to a one-channel image)."""
    batch = tf.shape(images)[0]
    images = images + draw(keras.random.uniform, [batch, 1, 1, 1], -0.5, 0.5,
                           seed=seed)
    mean = tf.reduce_mean(images, axis=3, keepdims=True)
    images = (images - mean) * draw(keras.random.uniform, [batch, 1, 1, 1], 0.0,
                                    2.0, seed=seed) + mean
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * draw(keras.random.uniform, [batch, 1, 1, 1], 0.5, 1.5,
                                  seed=seed) + mean


def translation(images, seed, ratio=0.125):
    """Shifts each image by up to `ratio` of its height and width, whole pixels,
    filling the uncovered border with 0. The paper's `rand_translation`."""
    shape = tf.shape(images)
    batch, height, width = shape[0], images.shape[1], images.shape[2]

    def shift_matrices(size):
        # Row i of image b's matrix picks source pixel i - shift[b]; tf.one_hot
        # gives an all-zero row where that falls outside the image: zero fill.
        limit = int(size * ratio + 0.5)
        shift = draw(keras.random.randint, [batch, 1], -limit, limit + 1, seed=seed)
        return tf.one_hot(tf.range(size)[None, :] - shift, size, dtype=images.dtype)

    # A matmul with one-hot matrices is differentiable in the images, like the
    # paper's gather, and as cheap at these sizes.
    return tf.einsum('bij,bjkc,blk->bilc', shift_matrices(height), images,
                     shift_matrices(width))


def cutout(images, seed, ratio=0.5):
    """Sets a square of `ratio` times the image size, centred anywhere in the
    image (and clipped at its border), to 0. DeVries & Taylor 2017; the paper's
    `rand_cutout`."""
    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]

    def inside(size):
        """[batch, size]: 1 where the pixel lies in the cut-out band."""
        cut = int(size * ratio + 0.5)
        start = draw(keras.random.randint, [batch, 1], 0, size, seed=seed) - cut // 2
        position = tf.range(size)[None, :]
        return tf.cast((position >= start) & (position < start + cut), images.dtype)

    hole = inside(height)[:, :, None, None] * inside(width)[:, None, :, None]
    return images * (1.0 - hole)


def diff_augment(images, names, seed):
    """`images` with each transformation in `names` (see
    `gan_tf.registry.AUGMENTATIONS`; a sequence, or a comma-separated string)
    applied in order, independently per image."""
    for name in registry.augmentations(names) if isinstance(names, str) else names:
        images = registry.load(registry.AUGMENTATIONS[name])(images, seed)
    return images
