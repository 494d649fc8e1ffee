"""Layers the architectures share: dropout, spectral normalisation and
self-attention; the warning about fully connected players too large for their images."""
import math
import warnings

import keras
from keras import layers, ops

from gan_tf import distribute


def float32(outputs):
    """`outputs` as float32: what every player returns, images or logits, so that
    under mixed precision losses, samples and exports stay in float32."""
    return ops.cast(outputs, 'float32')


@keras.saving.register_keras_serializable(package='gan_tf')
class SpectralNormalization(layers.SpectralNormalization):
    """Runs `layer` with its kernel W replaced by W / sigma(W), sigma its top singular value.

    Miyato et al. 2018, "Spectral Normalization for Generative Adversarial
    Networks": sigma comes from power iteration on W reshaped to [-1, units], one
    step per training call, its vector u kept between calls; the gradient flows
    through sigma (u and v held constant), as in the paper.

    Keras' `layers.SpectralNormalization` (the parent, whose weights, u and power
    iteration this reuses) instead writes W / sigma back into the trainable
    kernel on every training call. In a GAN that call also happens in the
    generator's step, so the discriminator's trainable weights would change in
    the generator's step, and its gradient skips sigma. Here the kernel is never
    written: the wrapped layer reads the normalised kernel through a
    `keras.StatelessScope`. Only u, a non-trainable weight, is updated, and only
    when `training`.
    """

    def call(self, inputs, training=False):
        vector_u, kernel = self.normalized_weights()
        if training:
            self.vector_u.assign(vector_u)
        with keras.StatelessScope(state_mapping=[(self.kernel, kernel)]):
            output = self.layer(inputs)
        return ops.cast(output, inputs.dtype)

    def normalized_kernel(self):
        """W / sigma, as the next inference call uses it (for inspection)."""
        return self.normalized_weights()[1]


@keras.saving.register_keras_serializable(package='gan_tf')
class Dropout(layers.Layer):
    """Dropout (Srivastava et al. 2014) whose masks split like the batch under
    tf.distribute: each replica drops its slice of the mask one device would
    draw for the global batch (`distribute.draw`). Keras' own Dropout draws the
    same mask on every replica, so replicas would repeat each other's masks and
    R replicas would not train as one device does."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or not self.rate:
            return inputs
        keep = distribute.draw(keras.random.uniform, ops.shape(inputs),
                               seed=self.seed_generator) >= self.rate
        return ops.where(keep, inputs / (1.0 - self.rate), ops.zeros_like(inputs))

    def get_config(self):
        return {**super().get_config(), 'rate': self.rate}


# Weights in one dense layer of a fully connected player above which it is slow
# and memory-hungry to train on a CPU (mlp at 64x64x3 has 12.6 million).
HUGE_LAYER = 10_000_000


def warn_if_huge(arch, player, image_shape, width):
    """Warns when the dense layer between a `width`-unit layer and the flat image
    is huge: fully connected players grow with the image's pixel count."""
    weights = width * math.prod(image_shape)
    if weights > HUGE_LAYER:
        warnings.warn(f'--arch={arch} at {"x".join(map(str, image_shape))}: its '
                      f"{player}'s {'output' if player == 'generator' else 'input'} "
                      f'layer alone has {weights / 1e6:.1f} million weights, slow and '
                      'memory-hungry to train; --arch=dcgan or a smaller --image_size '
                      'suit images this large')


def spectral(layer, spectral_norm):
    """`layer`, wrapped in SpectralNormalization if `spectral_norm`."""
    return SpectralNormalization(layer) if spectral_norm else layer


@keras.saving.register_keras_serializable(package='gan_tf')
class SelfAttention(layers.Layer):
    """x + gamma * attention(x) over all positions of a feature map [b, h, w, c].

    Zhang et al. 2019, "Self-Attention Generative Adversarial Networks": 1x1
    convolutions make a query and a key (c/8 channels each) and a value (c/2)
    at every position; each position's output is the softmax(query . key)-weighted
    sum of all positions' values, brought back to c channels by a 1x1 convolution,
    scaled by a learnable gamma and added to x. gamma starts at 0, so the block
    starts as the identity and the network learns how much non-local evidence to
    mix in. `spectral_norm` normalises all four convolutions (for discriminators).
    """

    def __init__(self, spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.spectral_norm = spectral_norm

    def build(self, input_shape):
        channels = input_shape[-1]

        def conv(filters):
            return spectral(layers.Conv2D(filters, 1, use_bias=False),
                            self.spectral_norm)

        self.query = conv(max(channels // 8, 1))
        self.key = conv(max(channels // 8, 1))
        self.value = conv(max(channels // 2, 1))
        self.out = conv(channels)
        self.gamma = self.add_weight(shape=(), initializer='zeros', name='gamma')

    def call(self, x, training=False):
        shape = ops.shape(x)
        batch, positions = shape[0], shape[1] * shape[2]

        def flat(conv):  # [batch, positions, channels]
            y = conv(x, training=training)
            return ops.reshape(y, (batch, positions, ops.shape(y)[-1]))

        query, key, value = flat(self.query), flat(self.key), flat(self.value)
        attention = ops.softmax(ops.matmul(query, ops.transpose(key, (0, 2, 1))), axis=-1)
        attended = ops.reshape(ops.matmul(attention, value),
                               (batch, shape[1], shape[2], ops.shape(value)[-1]))
        return x + self.gamma * self.out(attended, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), 'spectral_norm': self.spectral_norm}
