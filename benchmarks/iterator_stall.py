"""How long a process stalls when Python frees a training pipeline that ran for a
while, with tf.data's autotuning on (TensorFlow's default) and off (what
`gan_tf.data.train_batches` does), and how fast the same MLP GAN trains with each.

    python benchmarks/iterator_stall.py [seconds of training, default 30]

Random 28x28 images stand in for a dataset held in memory: only the pipeline's
shape matters here. Prints one line per setting.
"""
import gc
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from gan_tf import Config, runs
from gan_tf import data as gan_data


class StopAfter(keras.callbacks.Callback):
    """Stops training `seconds` after it began; counts the steps made."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.steps = seconds, 0

    def on_train_begin(self, logs=None):
        self.started = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        self.steps = batch + 1
        if time.monotonic() - self.started > self.seconds:
            self.model.stop_training = True


def trial(autotune, seconds):
    images = np.random.default_rng(0).integers(0, 256, (10_000, 28, 28, 1), np.uint8)
    data = gan_data.ImageData(
        examples=tf.data.Dataset.from_tensor_slices({'image': images,
                                                     'label': np.zeros(10_000, np.int64)}),
        num_examples=len(images), image_shape=(28, 28, 1), source='random',
        detail='random')
    keep = gan_data.without_autotuning
    if autotune:  # TensorFlow's default pipeline options
        gan_data.without_autotuning = lambda dataset: dataset
    try:
        config = Config(arch='mlp', dataset='random')
        batches = gan_data.train_batches(data, config.batch_size, config.seed)
    finally:
        gan_data.without_autotuning = keep
    gan = runs.build_gan(config, data.image_shape)
    stop = StopAfter(seconds)
    gan.fit(batches, steps_per_epoch=10**9, epochs=1, verbose=0, callbacks=[stop])
    rate = stop.steps / (time.monotonic() - stop.started)
    del gan, batches
    started = time.monotonic()
    gc.collect()  # frees Keras's iterator, held in reference cycles
    return rate, time.monotonic() - started


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30
    for autotune in (True, False):
        rate, stall = trial(autotune, seconds)
        print(f'autotuning {"on " if autotune else "off"}: {rate:6.1f} steps/s over '
              f'{seconds:.0f} s; freeing the pipeline afterwards took {stall:5.2f} s',
              flush=True)


if __name__ == '__main__':
    main()
