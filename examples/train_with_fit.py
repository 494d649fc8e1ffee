"""Train a GAN with the library API and Keras `fit` only: no flags, no gan_tf.main.

    python examples/train_with_fit.py [MANUAL_DIR] [STEPS]

MANUAL_DIR holds MNIST's original IDX .gz files (default ../shared/data/mnist); where
it is missing, tensorflow-datasets downloads MNIST. Writes samples.png here.
"""
import sys

import keras

from gan_tf import GAN, artifacts, callbacks, input_pipeline, models


def main(manual_dir='../shared/data/mnist', steps=3000):
    data = input_pipeline.load('mnist', manual_dir=manual_dir)
    generator, discriminator = models.build('mlp', data.image_shape)
    gan = GAN(generator, discriminator, latent_dim=100, seed=0)
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                loss='non_saturating')
    gan.fit(input_pipeline.train_batches(data, batch_size=64, seed=0),
            steps_per_epoch=steps, epochs=1, verbose=2,
            callbacks=[callbacks.StopAt(max_seconds=600)])
    artifacts.save_grid(gan(gan.sample_noise(64)).numpy(), 'samples.png')
    print(f'trained {int(gan.step)} steps; wrote samples.png')


if __name__ == '__main__':
    main(*sys.argv[1:2], *map(int, sys.argv[2:3]))
