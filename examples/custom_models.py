"""Your own generator and discriminator, trained by the gan_tf command line.

    python examples/custom_models.py --arch=tiny --dataset=mnist --max_steps=500

Any two Keras models work: the generator maps noise [batch, latent_dim] to images
[batch, height, width, channels] in [-1, 1]; the discriminator maps images to one
logit per image. `models.register` makes them an --arch choice beside the built-in
ones, with every flag, artifact and the export as for those. The generator's
`get_config` lets gan_tf copy it for the moving average of its weights.
"""
import math

import keras
from keras import layers

from gan_tf import main, models


class TinyGenerator(keras.Model):
    def __init__(self, image_shape, widths=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape, self.widths = tuple(image_shape), widths
        self.hidden = layers.Dense((widths or [128])[0], activation='relu')
        self.to_pixels = layers.Dense(math.prod(image_shape), activation='tanh')
        self.to_image = layers.Reshape(image_shape)

    def call(self, z, training=False):
        return self.to_image(self.to_pixels(self.hidden(z)))

    def get_config(self):
        return {**super().get_config(), 'image_shape': self.image_shape,
                'widths': self.widths}


class TinyDiscriminator(keras.Model):
    def __init__(self, image_shape, widths=None, **kwargs):
        super().__init__(**kwargs)
        self.flatten = layers.Flatten()
        self.hidden = layers.Dense((widths or [128])[0])
        self.to_logit = layers.Dense(1)

    def call(self, images, training=False):
        x = keras.ops.leaky_relu(self.hidden(self.flatten(images)), 0.2)
        return self.to_logit(x)[:, 0]


models.register('tiny', TinyGenerator, TinyDiscriminator)

if __name__ == '__main__':
    main.run()
