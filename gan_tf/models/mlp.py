"""Fully connected GAN: the classic 256-512-1024 generator, 1024-512-256 discriminator."""
import math

import keras
from keras import layers

from gan_tf.models.layers import Dropout, float32, spectral, warn_if_huge


@keras.saving.register_keras_serializable(package='gan_tf')
class MLPGenerator(keras.Model):
    """z -> dense layers with LeakyReLU(0.2) -> tanh image in [-1, 1]."""

    def __init__(self, image_shape, widths=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.widths = list(widths or (256, 512, 1024))
        warn_if_huge('mlp', 'generator', self.image_shape, self.widths[-1])
        self.hidden = [layers.Dense(w) for w in self.widths]
        self.activation = layers.LeakyReLU(0.2)
        self.to_pixels = layers.Dense(math.prod(self.image_shape), activation='tanh')
        self.to_image = layers.Reshape(self.image_shape)

    def call(self, z, training=False):
        x = z
        for dense in self.hidden:
            x = self.activation(dense(x))
        return float32(self.to_image(self.to_pixels(x)))

    def get_config(self):
        return {**super().get_config(), 'image_shape': self.image_shape,
                'widths': self.widths}


@keras.saving.register_keras_serializable(package='gan_tf')
class MLPDiscriminator(keras.Model):
    """image -> dense layers with LeakyReLU(0.2) and dropout 0.3 -> one logit.

    `spectral_norm`: every dense kernel spectrally normalised (Miyato et al. 2018).
    """

    def __init__(self, image_shape, widths=None, dropout=0.3, spectral_norm=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.widths = list(widths or (1024, 512, 256))
        warn_if_huge('mlp', 'discriminator', self.image_shape, self.widths[0])
        self.dropout_rate = dropout
        self.spectral_norm = spectral_norm
        self.flatten = layers.Flatten()
        self.hidden = [spectral(layers.Dense(w), spectral_norm) for w in self.widths]
        self.activation = layers.LeakyReLU(0.2)
        self.dropout = Dropout(dropout)
        self.to_logit = spectral(layers.Dense(1), spectral_norm)

    def call(self, images, training=False):
        return float32(self.to_logit(self.features(images, training),
                                     training=training)[:, 0])

    def features(self, images, training=False):
        """The last hidden layer's output [batch, widths[-1]], before `to_logit`."""
        x = self.flatten(images)
        for dense in self.hidden:
            x = self.dropout(self.activation(dense(x, training=training)),
                             training=training)
        return x

    def get_config(self):
        return {**super().get_config(), 'image_shape': self.image_shape,
                'widths': self.widths, 'dropout': self.dropout_rate,
                'spectral_norm': self.spectral_norm}
