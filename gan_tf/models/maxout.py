"""The MNIST model of Goodfellow et al. 2014, "Generative Adversarial Nets".

The paper's generator mixes rectifier and sigmoid units; its discriminator is a
maxout network trained with dropout. Here the generator has batch-normalised ReLU
hidden layers (none on the output layer) and a tanh output to match images in
[-1, 1]; the discriminator keeps the paper's 240 units x 5 pieces with dropout
0.2 on its input and 0.5 on hidden units.
"""
import math

import keras
from keras import layers

from gan_tf.models.layers import Dropout, float32, spectral, warn_if_huge


@keras.saving.register_keras_serializable(package='gan_tf')
class Maxout(layers.Layer):
    """Dense layer whose output unit is the max over `pieces` linear pieces.

    Goodfellow et al. 2013, "Maxout Networks". Keras has no maxout layer.
    `spectral_norm` normalises the linear map of all pieces together; since
    |max_k a_k - max_k b_k| <= max_k |a_k - b_k|, the layer then stays
    1-Lipschitz, like a normalised dense layer.
    """

    def __init__(self, units, pieces, spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.units, self.pieces = units, pieces
        self.spectral_norm = spectral_norm
        self.linear = spectral(layers.Dense(units * pieces), spectral_norm)

    def call(self, x, training=False):
        pieces = keras.ops.reshape(self.linear(x, training=training),
                                   (-1, self.units, self.pieces))
        return keras.ops.max(pieces, axis=-1)

    def get_config(self):
        return {**super().get_config(), 'units': self.units, 'pieces': self.pieces,
                'spectral_norm': self.spectral_norm}


@keras.saving.register_keras_serializable(package='gan_tf')
class MaxoutGenerator(keras.Model):
    """z -> (dense, batch-norm, ReLU) x len(widths) -> tanh image."""

    def __init__(self, image_shape, widths=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.widths = list(widths or (1200, 1200))
        warn_if_huge('maxout', 'generator', self.image_shape, self.widths[-1])
        self.hidden = [(layers.Dense(w, use_bias=False), layers.BatchNormalization())
                       for w in self.widths]
        self.to_pixels = layers.Dense(math.prod(self.image_shape), activation='tanh')
        self.to_image = layers.Reshape(self.image_shape)

    def call(self, z, training=False):
        x = z
        for dense, norm in self.hidden:
            x = keras.ops.relu(norm(dense(x), training=training))
        return float32(self.to_image(self.to_pixels(x)))

    def get_config(self):
        return {**super().get_config(), 'image_shape': self.image_shape,
                'widths': self.widths}


@keras.saving.register_keras_serializable(package='gan_tf')
class MaxoutDiscriminator(keras.Model):
    """image -> dropout 0.2 -> (maxout 5 pieces, dropout 0.5) x len(widths) -> logit.

    `spectral_norm`: every linear map spectrally normalised (Miyato et al. 2018).
    """

    def __init__(self, image_shape, widths=None, pieces=5, spectral_norm=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.widths = list(widths or (240, 240))
        warn_if_huge('maxout', 'discriminator', self.image_shape, self.widths[0] * pieces)
        self.pieces = pieces
        self.spectral_norm = spectral_norm
        self.flatten = layers.Flatten()
        self.input_dropout = Dropout(0.2)
        self.hidden = [Maxout(w, pieces, spectral_norm) for w in self.widths]
        self.hidden_dropout = Dropout(0.5)
        self.to_logit = spectral(layers.Dense(1), spectral_norm)

    def call(self, images, training=False):
        return float32(self.to_logit(self.features(images, training),
                                     training=training)[:, 0])

    def features(self, images, training=False):
        """The last maxout layer's output [batch, widths[-1]], before `to_logit`."""
        x = self.input_dropout(self.flatten(images), training=training)
        for maxout in self.hidden:
            x = self.hidden_dropout(maxout(x, training=training), training=training)
        return x

    def get_config(self):
        return {**super().get_config(), 'image_shape': self.image_shape,
                'widths': self.widths, 'pieces': self.pieces,
                'spectral_norm': self.spectral_norm}
