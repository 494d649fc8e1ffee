"""Deep convolutional GAN: Radford et al. 2016, "Unsupervised Representation Learning
with Deep Convolutional Generative Adversarial Networks".

The paper's rules: strided (transposed) convolutions instead of pooling, batch-norm
in both players except the generator's output and the discriminator's input
layer, ReLU in the generator with a tanh output, LeakyReLU(0.2) in the
discriminator, weights drawn from N(0, 0.02). Kernels are 4x4 with stride 2, so
every output pixel of a transposed convolution gets the same number of taps (no
checkerboard pattern; Odena et al. 2016, "Deconvolution and Checkerboard
Artifacts").

Sizes adapt to the images: the generator projects z to a small feature map and
doubles its side once per entry of `widths`, so both sides of the image must be
divisible by 2 ** len(widths). By default it halves the image's sides while
both are even and above 8 (28 -> 14 -> 7, 32 -> 16 -> 8, 64 -> 32 -> 16 -> 8).
"""
import math

import keras
from keras import layers

from gan_tf.models.layers import SelfAttention, float32, spectral

# Filters of the block at the image's resolution; each halving doubles them:
# G 64-32 and D 32-64 for 28x28, 128-64-32 and 32-64-128 for 64x64 (the paper's
# 64x64 generator starts at 1024): lean, for CPUs, where wider players train
# fewer steps in the same time for worse samples (README, "Quality in ten
# minutes").
BASE_FILTERS = 32
KERNEL = 4
# BatchNormalization's moving averages only serve inference (sample grids, the
# export); 0.9 follows a generator that changes every step more closely than
# Keras' default 0.99.
BN_MOMENTUM = 0.9


def _init():
    return keras.initializers.RandomNormal(stddev=0.02)  # Radford et al. 2016


def _sides(image_shape):
    if len(image_shape) != 3:
        raise ValueError(f'convolutional models need images of shape (height, width, '
                         f'channels), got {tuple(image_shape)}')
    return image_shape[0], image_shape[1]


def default_blocks(image_shape):
    """Number of stride-2 blocks: halvings of the sides while even and above 8."""
    height, width = _sides(image_shape)
    blocks = 0
    while height % 2 == 0 and width % 2 == 0 and min(height, width) > 8:
        height, width, blocks = height // 2, width // 2, blocks + 1
    if blocks == 0:
        raise ValueError(f'convolutional models cannot generate {height}x{width} '
                         'images: both sides must be even, and above 8')
    return blocks


@keras.saving.register_keras_serializable(package='gan_tf')
class DCGANGenerator(keras.Model):
    """z -> dense to a [h/2^n, w/2^n, widths[0]] map -> (transposed conv stride 2,
    batch-norm, ReLU) per further width -> transposed conv stride 2 to a tanh image.

    `widths`: filters of the feature maps from the smallest up; n = len(widths).
    """

    self_attention = False  # SAGANGenerator: one block at the middle resolution

    def __init__(self, image_shape, widths=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        height, width = _sides(self.image_shape)
        if widths:
            self.widths = list(widths)
        else:
            blocks = default_blocks(self.image_shape)
            self.widths = [BASE_FILTERS * 2 ** i for i in reversed(range(blocks))]
        scale = 2 ** len(self.widths)
        if height % scale or width % scale:
            raise ValueError(
                f'{type(self).__name__}: {len(self.widths)} widths means {len(self.widths)} '
                f'doublings of the feature map, which needs height and width divisible '
                f'by {scale}; {height}x{width} is not: give fewer widths')
        start = (height // scale, width // scale, self.widths[0])
        self.project = layers.Dense(math.prod(start), use_bias=False,
                                    kernel_initializer=_init())
        self.to_map = layers.Reshape(start)
        self.upsample = [layers.Conv2DTranspose(w, KERNEL, 2, 'same', use_bias=False,
                                                kernel_initializer=_init())
                         for w in self.widths[1:]]
        self.norms = [layers.BatchNormalization(momentum=BN_MOMENTUM) for _ in self.widths]
        self.to_image = layers.Conv2DTranspose(self.image_shape[-1], KERNEL, 2, 'same',
                                               activation='tanh',
                                               kernel_initializer=_init())
        # Middle of the generator's resolutions (14x14 of 7, 14, 28 for MNIST).
        self.attention_at = len(self.widths) // 2
        self.attention = SelfAttention() if self.self_attention else None

    def call(self, z, training=False):
        x = self.to_map(self.project(z))
        for i, norm in enumerate(self.norms):
            if i:
                x = self.upsample[i - 1](x)
            x = keras.ops.relu(norm(x, training=training))
            if self.attention is not None and i == self.attention_at:
                x = self.attention(x, training=training)
        return float32(self.to_image(x))

    def get_config(self):
        return {**super().get_config(), 'image_shape': self.image_shape,
                'widths': self.widths}


@keras.saving.register_keras_serializable(package='gan_tf')
class DCGANDiscriminator(keras.Model):
    """image -> (conv stride 2, [batch-norm], LeakyReLU 0.2) per width -> one logit.

    No batch-norm on the first block (Radford et al.: on the input layer it made
    training unstable). `spectral_norm` normalises every conv and dense kernel
    (Miyato et al. 2018) and drops batch-norm, whose learned scale would undo
    the bound on the discriminator's Lipschitz constant (the SN-GAN
    discriminator has none either).
    """

    self_attention = False  # SAGANDiscriminator: one block at the middle resolution

    def __init__(self, image_shape, widths=None, spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        _sides(self.image_shape)
        self.widths = list(widths or [BASE_FILTERS * 2 ** i for i in
                                      range(default_blocks(self.image_shape))])
        self.spectral_norm = spectral_norm
        self.convs, self.norms = [], []
        for i, w in enumerate(self.widths):
            normed = i > 0 and not spectral_norm
            self.convs.append(spectral(layers.Conv2D(
                w, KERNEL, 2, 'same', use_bias=not normed, kernel_initializer=_init()),
                spectral_norm))
            self.norms.append(layers.BatchNormalization(momentum=BN_MOMENTUM)
                              if normed else None)
        self.activation = layers.LeakyReLU(0.2)
        self.flatten = layers.Flatten()
        self.to_logit = spectral(layers.Dense(1, kernel_initializer=_init()),
                                 spectral_norm)
        # After the block whose output mirrors the generator's attention resolution.
        self.attention_at = len(self.widths) - len(self.widths) // 2 - 1
        self.attention = (SelfAttention(spectral_norm=spectral_norm)
                          if self.self_attention else None)

    def call(self, images, training=False):
        return float32(self.to_logit(self.features(images, training),
                                     training=training)[:, 0])

    def features(self, images, training=False):
        """The last block's feature map, flattened [batch, h * w * widths[-1]]."""
        x = images
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = conv(x, training=training)
            if norm is not None:
                x = norm(x, training=training)
            x = self.activation(x)
            if self.attention is not None and i == self.attention_at:
                x = self.attention(x, training=training)
        return self.flatten(x)

    def get_config(self):
        return {**super().get_config(), 'image_shape': self.image_shape,
                'widths': self.widths, 'spectral_norm': self.spectral_norm}
