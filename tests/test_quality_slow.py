"""Long runs (minutes): `python -m pytest -m slow`. Do the samples look like digits?

A small classifier trained on real MNIST judges the samples: recognisable digits
are classified confidently, and every class appears.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from gan_tf import Config, input_pipeline, train

pytestmark = pytest.mark.slow


def mnist_classifier(data_dir):
    """An MLP trained on the real MNIST training split (about 98% test accuracy)."""
    def arrays(split):
        images, labels = tfds.as_numpy(tfds.load('mnist', split=split, data_dir=data_dir,
                                                 as_supervised=True, batch_size=-1))
        return input_pipeline.to_unit_range(images).numpy(), labels
    classifier = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Flatten(),
        keras.layers.Dense(256, activation='relu'), keras.layers.Dense(10)])
    classifier.compile('adam', keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=['accuracy'])
    keras.utils.set_random_seed(0)
    classifier.fit(*arrays('train'), batch_size=256, epochs=3, verbose=0)
    accuracy = classifier.evaluate(*arrays('test'), verbose=0)[1]
    assert accuracy > 0.96
    return classifier


def test_default_mlp_run_makes_recognisable_digits_of_every_class(mnist_data_dir, tmp_path):
    config = Config(dataset='mnist', data_dir=mnist_data_dir, out_dir=str(tmp_path),
                    epochs=10, export=False)
    run_dir = train.train_and_evaluate(config)
    gan = train.build_gan(config, (28, 28, 1))
    tf.train.Checkpoint(generator=gan.generator).restore(
        tf.train.latest_checkpoint(f'{run_dir}/checkpoints')).expect_partial()

    classifier = mnist_classifier(mnist_data_dir)
    samples = gan(gan.sample_noise(2000))
    probabilities = tf.nn.softmax(classifier(samples)).numpy()
    confident = np.mean(probabilities.max(axis=1) > 0.9)
    shares = np.bincount(probabilities.argmax(axis=1), minlength=10) / len(samples)
    print(f'confidently classified: {confident:.2f}; class shares: {np.round(shares, 3)}')
    assert confident > 0.6
    assert shares.min() > 0.03  # all ten digits, none collapsed away

    untrained = train.build_gan(config, (28, 28, 1))
    untrained_confident = np.mean(
        tf.nn.softmax(classifier(untrained(untrained.sample_noise(2000)))).numpy()
        .max(axis=1) > 0.9)
    assert untrained_confident < confident / 2
