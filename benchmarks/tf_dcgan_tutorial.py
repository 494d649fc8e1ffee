"""The TensorFlow DCGAN tutorial's models and training loop: a yardstick.

The models and settings of tensorflow.org's "Deep Convolutional Generative
Adversarial Network" tutorial, as it trains MNIST: generator Dense(7*7*256) ->
transposed convolutions 128 (stride 1), 64 (stride 2), 1 (stride 2, tanh), 5x5
kernels, batch-norm and LeakyReLU between; discriminator convolutions 64 and 128
(5x5, stride 2) with LeakyReLU and dropout 0.3, then one logit; cross-entropy from
logits, Adam(1e-4) for both players, batch 256, z of 100 standard normals, one D
and one G update per step on the same noise. Written here, not copied, for the
ten-minute comparison in README.md. Runs in gan_tf's own environment:

    python benchmarks/tf_dcgan_tutorial.py --data_dir=../shared/data/fashion_mnist \\
        --train_seconds=600 --samples=tutorial_samples.npy
    python -m gan_tf.evaluate --samples=tutorial_samples.npy --dataset=fashion_mnist \\
        --manual_dir=../shared/data/fashion_mnist
"""
import argparse
import gzip
import os
import time

import numpy as np
import tensorflow as tf
from tensorflow.keras import layers

LATENT_DIM = 100


def make_generator():
    return tf.keras.Sequential([
        layers.Input((LATENT_DIM,)),
        layers.Dense(7 * 7 * 256, use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Reshape((7, 7, 256)),
        layers.Conv2DTranspose(128, 5, strides=1, padding='same', use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Conv2DTranspose(64, 5, strides=2, padding='same', use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Conv2DTranspose(1, 5, strides=2, padding='same', use_bias=False,
                               activation='tanh'),
    ])


def make_discriminator():
    return tf.keras.Sequential([
        layers.Input((28, 28, 1)),
        layers.Conv2D(64, 5, strides=2, padding='same'), layers.LeakyReLU(),
        layers.Dropout(0.3),
        layers.Conv2D(128, 5, strides=2, padding='same'), layers.LeakyReLU(),
        layers.Dropout(0.3),
        layers.Flatten(), layers.Dense(1),
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data_dir', required=True,
                        help='folder with train-images-idx3-ubyte.gz (MNIST or Fashion-MNIST)')
    parser.add_argument('--batch_size', type=int, default=256)
    parser.add_argument('--train_seconds', type=float, default=600)
    parser.add_argument('--max_steps', type=int, default=0,
                        help='stop after this many steps instead (0: time only)')
    parser.add_argument('--samples', default='tutorial_samples.npy')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    tf.keras.utils.set_random_seed(args.seed)
    with gzip.open(os.path.join(args.data_dir, 'train-images-idx3-ubyte.gz')) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
    dataset = (tf.data.Dataset.from_tensor_slices(images.astype(np.float32) / 127.5 - 1)
               .shuffle(60_000).batch(args.batch_size).prefetch(2))

    generator, discriminator = make_generator(), make_discriminator()
    cross_entropy = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    g_opt, d_opt = tf.keras.optimizers.Adam(1e-4), tf.keras.optimizers.Adam(1e-4)

    @tf.function
    def train_step(real):
        noise = tf.random.normal([tf.shape(real)[0], LATENT_DIM])
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = generator(noise, training=True)
            real_logits = discriminator(real, training=True)
            fake_logits = discriminator(fake, training=True)
            g_loss = cross_entropy(tf.ones_like(fake_logits), fake_logits)
            d_loss = (cross_entropy(tf.ones_like(real_logits), real_logits) +
                      cross_entropy(tf.zeros_like(fake_logits), fake_logits))
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, generator.trainable_variables),
                                  generator.trainable_variables))
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables))

    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.train_seconds and steps != (args.max_steps or -1):
        for real in dataset:
            train_step(real)
            steps += 1
            if time.perf_counter() - start >= args.train_seconds or steps == (args.max_steps or -1):
                break
    seconds = time.perf_counter() - start
    samples = np.concatenate([generator(tf.random.normal([1000, LATENT_DIM]),
                                        training=False).numpy() for _ in range(10)])
    np.save(args.samples, samples)
    print(f'{steps} steps in {seconds:.0f} s ({steps * args.batch_size / seconds:.0f} '
          f'images/s); wrote {args.samples}')


if __name__ == '__main__':
    main()
