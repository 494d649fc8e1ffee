"""Sample quality in a classifier's feature space: `python -m gan_tf.evaluate`.

Inception weights cannot be downloaded offline, and MNIST-like data needs no
ImageNet features anyway: a small classifier, trained once per dataset on the
real training split (seeded, cached on disk with its test accuracy), judges the
samples against the real test split:

  fid               Frechet distance between feature Gaussians (Heusel et al. 2017,
                    "GANs trained by a two time-scale update rule"), here in the
                    classifier's penultimate layer; 0 for identical distributions.
  classes_covered   classes predicted for at least a fifth of their fair share
                    of the samples (2% for 10 classes): the modes covered.
  class_kl          KL(sample class histogram || real class histogram), nats.
  classifier_score  exp(E KL(p(y|x) || p(y))): the Inception Score's analogue.
  confident         share of samples the classifier labels with p > 0.9.

    python -m gan_tf.evaluate --export_dir=out/RUN/export --dataset=mnist
    python -m gan_tf.evaluate --samples=samples.npy --dataset=mnist
"""
import json
import os
import warnings

import numpy as np
import scipy.linalg

from gan_tf import input_pipeline, sample
from gan_tf.errors import UserError

FEATURES = 'features'  # name of the classifier layer whose outputs are the features


def load_classifier(dataset, data_dir='', manual_dir='', cache_dir='', seed=0):
    """(classifier, info): the cached classifier for `dataset`, trained if absent.

    The classifier maps images in [-1, 1] to logits; its layer FEATURES gives the
    features. `info` records its test accuracy and how it was trained.
    """
    import keras
    cache_dir = cache_dir or os.path.join(
        data_dir or input_pipeline.default_data_dir(), 'gan_tf_classifiers')
    path = os.path.join(cache_dir, f'{dataset}.keras')
    if os.path.exists(path) and os.path.exists(f'{path}.json'):
        with open(f'{path}.json') as f:
            return keras.saving.load_model(path), json.load(f)

    train = input_pipeline.load(dataset, data_dir, manual_dir, download=False)
    test = input_pipeline.load(dataset, data_dir, manual_dir, download=False,
                               split='test')
    if not train.num_classes:
        raise UserError(f'{dataset} has no labels to train the judging classifier on')
    keras.utils.set_random_seed(seed)
    classifier = keras.Sequential([
        keras.Input(train.image_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(512, activation='relu'),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(128, activation='relu', name=FEATURES),
        keras.layers.Dense(train.num_classes),
    ])
    classifier.compile(
        optimizer='adam', metrics=['accuracy'],
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _arrays(train)
    classifier.fit(x, y, batch_size=256, epochs=5, verbose=0, shuffle=True)
    accuracy = classifier.evaluate(*_arrays(test), verbose=0)[1]
    info = {'dataset': dataset, 'test_accuracy': round(float(accuracy), 4),
            'train_examples': train.num_examples, 'epochs': 5, 'seed': seed}
    os.makedirs(cache_dir, exist_ok=True)
    classifier.save(path)
    with open(f'{path}.json', 'w') as f:
        json.dump(info, f)
    return classifier, info


def _arrays(data):
    """(images in [-1, 1], labels) of a whole split as numpy arrays."""
    batches = list(data.examples.batch(10_000))
    images = np.concatenate([b['image'].numpy() for b in batches])
    labels = np.concatenate([b['label'].numpy() for b in batches])
    return input_pipeline.to_unit_range(images).numpy(), labels


def features_and_probabilities(classifier, images, batch_size=1000):
    """Feature vectors and class probabilities of images in [-1, 1]."""
    import keras
    import tensorflow as tf
    both = keras.Model(classifier.inputs,
                       [classifier.get_layer(FEATURES).output, classifier.outputs[0]])
    features, logits = both.predict(np.asarray(images, np.float32),
                                    batch_size=batch_size, verbose=0)
    return features, tf.nn.softmax(logits).numpy()


def frechet_distance(features_a, features_b):
    """Frechet distance between Gaussians fitted to two sets of feature vectors."""
    mean_a, mean_b = features_a.mean(0), features_b.mean(0)
    cov_a = np.cov(features_a, rowvar=False)
    cov_b = np.cov(features_b, rowvar=False)
    with warnings.catch_warnings():  # near-singular products are handled below
        warnings.simplefilter('ignore', scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(root).all():  # dead features make the product singular
            offset = np.eye(len(cov_a)) * 1e-6
            root = scipy.linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    root = root.real  # numerical noise can leave tiny imaginary parts
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def evaluate_samples(samples, dataset, data_dir='', manual_dir='', cache_dir=''):
    """Scores `samples` (images in [-1, 1], NHWC) against `dataset`'s test split."""
    classifier, info = load_classifier(dataset, data_dir, manual_dir, cache_dir)
    test = input_pipeline.load(dataset, data_dir, manual_dir, download=False,
                               split='test')
    real_images, real_labels = _arrays(test)
    real_features, _ = features_and_probabilities(classifier, real_images)
    features, probabilities = features_and_probabilities(classifier, samples)
    classes = probabilities.shape[1]
    shares = np.bincount(probabilities.argmax(1), minlength=classes) / len(samples)
    real_shares = np.bincount(real_labels, minlength=classes) / len(real_labels)
    marginal = probabilities.mean(0)
    eps = 1e-12
    return {
        'samples': len(samples),
        'fid': frechet_distance(features, real_features),
        'classes_covered': int(np.sum(shares >= 0.2 / classes)),
        'class_kl': float(np.sum(shares * np.log((shares + eps) / real_shares))),
        'classifier_score': float(np.exp(np.mean(np.sum(
            probabilities * (np.log(probabilities + eps) - np.log(marginal + eps)),
            axis=1)))),
        'confident': float(np.mean(probabilities.max(1) > 0.9)),
        'class_shares': [round(float(s), 4) for s in shares],
        'classifier_test_accuracy': info['test_accuracy'],
    }


def main(argv):
    from absl import flags
    del argv
    FLAGS = flags.FLAGS
    if bool(FLAGS.export_dir) == bool(FLAGS.samples):
        raise SystemExit('error: give exactly one of --export_dir or --samples')
    try:
        if FLAGS.export_dir:
            samples = sample.Exported(FLAGS.export_dir).sample(FLAGS.num)
        else:
            samples = np.load(FLAGS.samples)
        result = evaluate_samples(samples, FLAGS.dataset, FLAGS.data_dir,
                                  FLAGS.manual_dir)
    except (UserError, OSError) as e:
        raise SystemExit(f'error: {e}') from None
    for key, value in result.items():
        print(f'{key:26s} {value:.4f}' if isinstance(value, float) else
              f'{key:26s} {value}')
    if FLAGS.json:
        with open(FLAGS.json, 'w') as f:
            json.dump(result, f, indent=2)


def run():
    from absl import app, flags
    flags.DEFINE_string('export_dir', '', 'A SavedModel export to sample from.')
    flags.DEFINE_string('samples', '', 'A .npy of images in [-1, 1], NHWC.')
    flags.DEFINE_integer('num', 10_000, 'Samples to draw from --export_dir.')
    flags.DEFINE_string('dataset', 'mnist', 'The real data to compare with.')
    flags.DEFINE_string('data_dir', '', 'tensorflow-datasets data directory.')
    flags.DEFINE_string('manual_dir', '', "Folder of the dataset's original files.")
    flags.DEFINE_string('json', '', 'Also write the result to this JSON file.')
    app.run(main)


if __name__ == '__main__':
    run()
