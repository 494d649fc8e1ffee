"""The judge of sample quality: a classifier's feature space, InceptionV3's, and the
`Evaluator` that scores generated images against the real test split.

Inception weights cannot be downloaded offline, and MNIST-like data needs no
ImageNet features anyway: a small classifier, trained once per dataset on the
real training split (seeded, cached on disk with its test accuracy), judges the
samples against the real test split, in its penultimate layer's features, with
the metrics of `gan_tf.quality`:

  fid               Frechet distance between feature Gaussians; 0 for identical
                    distributions, biased upwards for few samples.
  kid, kid_std      kernel distance: unbiased MMD^2, mean and spread over subsets;
                    comparable across sample counts.
  precision, recall share of samples inside the real data's k=3 nearest-neighbour
                    balls, and of real images inside the samples': fidelity and
                    diversity.
  density, coverage the same with balls around real images only, robust to
                    outliers.
  classes_covered   classes predicted for at least a fifth of their fair share.
  class_kl          KL(sample class histogram || real class histogram), nats.
  classifier_score  the Inception Score's analogue.
  confident         share of samples the classifier labels with p > 0.9.
  class_shares      the sample class histogram itself.
  label_accuracy    conditional generators: the share of samples of the class asked for.
And, when InceptionV3 weights are at hand (`--inception_weights`, or Keras'
cache), `inception_fid`: the usual FID, in InceptionV3's pool features.

`python -m gan_tf.evaluate` (`evaluate`, below) scores an export, a checkpoint or
a .npy of samples; during training, `gan_tf.callbacks.PeriodicEvaluation` scores
the generator every N steps with an `Evaluator`.
"""
import hashlib
import io
import json
import os
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from gan_tf import artifacts, data, quality, sources
from gan_tf.errors import UserError

FEATURES = 'features'  # name of the classifier layer whose outputs are the features
# The judge's make, in its cache file's name: a judge of another make is trained
# afresh rather than read (earlier versions cached a dense one).
MAKE = 'conv1'
EPOCHS = 3
# Training images whose features the memorisation figure compares samples with.
MEMORY_IMAGES = 10_000
INCEPTION_FILE = 'inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5'


def build_classifier(image_shape, num_classes):
    """The judging classifier: images in [-1, 1] -> class logits, its FEATURES
    layer the feature space every metric is measured in.

    Blocks of a 3x3 convolution (32, 64, 128 filters; more blocks of 32 first for
    images above 64 px, until 8x8 or less is left), batch normalisation, ReLU and
    2x2 max-pooling; global average pooling; a dense layer of 128 features; the
    logits. Convolutions see what people see in a digit's strokes (speckle, blur,
    broken lines) that a network on flattened pixels is blind to: BUILD.md,
    "Judging sample quality", has the disturbance tests that show it.
    """
    widths = [32, 64, 128]
    while min(image_shape[:2]) / 2 ** len(widths) > 8:
        widths.insert(0, 32)
    inputs = keras.Input(image_shape)
    x = inputs
    for width in widths:
        x = keras.layers.Conv2D(width, 3, padding='same', use_bias=False)(x)
        # Momentum 0.9: the moving statistics settle within a few hundred steps,
        # so small datasets (and the test suite's quick judge) get a working one.
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D(2, padding='same')(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    features = keras.layers.Dense(128, activation='relu', name=FEATURES)(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(features))


def load_classifier(dataset, data_dir='', manual_dir='', cache_dir='', seed=0,
                    epochs=EPOCHS, train_images=None):
    """(classifier, info): the cached judging classifier of `dataset`, trained on
    its training split the first time (`train_images`: only that many of them,
    for a quick judge). `info` records how it was trained and its accuracy on
    the test split. The cache is written whole or not at all."""
    path = os.path.join(cache_folder(cache_dir, data_dir), f'{dataset}.{MAKE}.keras')
    if os.path.exists(path) and os.path.exists(f'{path}.json'):
        with open(f'{path}.json') as f:
            return keras.saving.load_model(path), json.load(f)

    train = data.load(dataset, data_dir, manual_dir, download=False)
    test = data.load(dataset, data_dir, manual_dir, download=False, split='test')
    if not train.num_classes:
        raise UserError(f'{dataset} has no labels to train the judging classifier on')
    x, y = data.arrays(train)
    if train_images:
        keep = np.random.default_rng(seed).permutation(len(x))[:train_images]
        x, y = x[keep], y[keep]
    keras.utils.set_random_seed(seed)
    classifier = build_classifier(train.image_shape, train.num_classes)
    batch_size = 128
    steps = epochs * -(-len(x) // batch_size)
    classifier.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=['accuracy'])
    print(f'judge: training the {dataset} classifier once, on {len(x):,} images '
          f'({epochs} epochs; cached in {os.path.dirname(path)})', flush=True)
    started = time.monotonic()
    classifier.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
    train_seconds = time.monotonic() - started
    accuracy = classifier.evaluate(*data.arrays(test), batch_size=1000, verbose=0)[1]
    info = {'dataset': dataset, 'make': MAKE, 'test_accuracy': round(float(accuracy), 4),
            'train_examples': len(x), 'epochs': epochs, 'seed': seed,
            'train_seconds': round(train_seconds, 1)}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as scratch:
        saved = os.path.join(scratch, 'classifier.keras')
        classifier.save(saved)
        os.replace(saved, path)
    artifacts.write_file(f'{path}.json', json.dumps(info))  # last: marks it complete
    return classifier, info


class Classifier:
    """The judging classifier of `dataset` (`load_classifier`), with what its
    users ask of it: features and class probabilities of images in [-1, 1]."""

    def __init__(self, dataset, data_dir='', manual_dir='', cache_dir=''):
        self.dataset = dataset
        self.model, self.info = load_classifier(dataset, data_dir, manual_dir, cache_dir)
        self.trained_at = os.path.getmtime(os.path.join(
            cache_folder(cache_dir, data_dir), f'{dataset}.{MAKE}.keras.json'))
        self.features_and_logits = features_and_logits_model(self.model)
        self.image_shape = tuple(self.model.inputs[0].shape[1:])

    def features_and_probabilities(self, images, batch_size=1000):
        """(feature vectors, class probabilities) of many images."""
        features, logits = self.features_and_logits.predict(
            np.asarray(images, np.float32), batch_size=batch_size, verbose=0)
        return features, tf.nn.softmax(logits).numpy()

    def class_probabilities(self, images):
        """Class probabilities of a few images (the health monitor's probes): the
        model called directly, as `predict` would trace a new function each time."""
        logits = self.model(np.asarray(images, np.float32), training=False)
        return keras.ops.convert_to_numpy(keras.ops.softmax(logits))

    def model_features(self, images):
        """Feature vectors of a few images, the model called directly."""
        features, _ = self.features_and_logits(np.asarray(images, np.float32),
                                               training=False)
        return keras.ops.convert_to_numpy(features)


def cache_folder(cache_dir, data_dir):
    """Where judging classifiers and real-image statistics are kept."""
    return cache_dir or os.path.join(data_dir or data.default_data_dir(),
                                     'gan_tf_classifiers')


def features_and_logits_model(classifier):
    """One model giving both the features and the logits of the classifier."""
    return keras.Model(classifier.inputs,
                       [classifier.get_layer(FEATURES).output, classifier.outputs[0]])


# ---------------------------------------------------------------- Inception FID

def inception_weights_path(path=''):
    """The InceptionV3 no-top weights to use: `path`, else Keras' cached copy,
    else None. A `path` that does not exist is a UserError."""
    if path:
        if not os.path.isfile(path):
            raise UserError(f'--inception_weights={path}: no such file; pass a Keras '
                            f'InceptionV3 no-top weights file ({INCEPTION_FILE})')
        return path
    # Where keras.utils.get_file caches it: $KERAS_HOME, else ~/.keras, else
    # /tmp/.keras when the home folder is read-only.
    homes = [os.environ.get('KERAS_HOME') or os.path.expanduser('~/.keras'),
             os.path.join('/tmp', '.keras')]
    for home in homes:
        cached = os.path.join(home, 'models', INCEPTION_FILE)
        if os.path.isfile(cached):
            return cached
    return None


INCEPTION_MISSING = (
    'inception_fid skipped: no InceptionV3 weights (pass --inception_weights=PATH to '
    f'a Keras InceptionV3 no-top .h5, or put {INCEPTION_FILE} in ~/.keras/models/)')


class Inception:
    """InceptionV3's 2048 average-pooled features of images in [-1, 1].

    Gray images are repeated to 3 channels, and every image is resized
    (bilinear) to `size` x `size`: 299, as InceptionV3 was trained, for FIDs
    comparable with published ones; smaller sizes (at least 75) cost far less
    CPU time, but their FIDs are comparable only with each other.
    `weights`: a weights file, or None for random weights (tests only).
    """

    def __init__(self, weights, size=299):
        if size < 75:
            raise UserError(f'--inception_size={size}: InceptionV3 needs at least 75')
        self.weights, self.size = weights, size
        self.model = keras.applications.InceptionV3(
            include_top=False, weights=weights, pooling='avg',
            input_shape=(size, size, 3))

    def features(self, images, batch_size=50):
        out = []
        # Batch by batch: 10,000 images at 299 x 299 x 3 would take 10.7 GB.
        for start in range(0, len(images), batch_size):
            x = tf.convert_to_tensor(images[start:start + batch_size], tf.float32)
            if x.shape[-1] == 1:
                x = tf.repeat(x, 3, axis=-1)
            x = tf.image.resize(x, (self.size, self.size))
            # Keras' InceptionV3 preprocessing maps pixels to [-1, 1]: ours already are.
            out.append(self.model(x, training=False).numpy())
        return np.concatenate(out)

    def real_statistics(self, dataset, real_images, cache_dir=''):
        """Mean and covariance of the real images' features, cached on disk
        (keyed by dataset, size and the weights file's hash) when the weights
        come from a file: 10,000 images at 299 x 299 take a 2-core CPU about
        11 minutes."""
        path = None
        if self.weights:
            with open(self.weights, 'rb') as f:
                digest = hashlib.sha256(f.read()).hexdigest()[:16]
            path = os.path.join(cache_dir, f'{dataset}.inception{self.size}-{digest}.npz')
            if os.path.exists(path):
                cached = np.load(path)
                return cached['mean'], cached['cov']
        mean, cov = quality.gaussian(self.features(real_images))
        if path:
            buffer = io.BytesIO()
            np.savez(buffer, mean=mean, cov=cov)
            artifacts.write_file(path, buffer.getvalue())
        return mean, cov


# ------------------------------------------------------------------- Evaluator

class Evaluator:
    """Scores samples against `dataset`'s real test split.

    Loads (or trains, the first time) the judging classifier and computes the
    real features, their nearest-neighbour radii and, with `inception`, the real
    InceptionV3 statistics once; then each `score` costs only the samples'
    features: fit for scoring the generator every few thousand training steps.
    """

    def __init__(self, dataset, data_dir='', manual_dir='', cache_dir='',
                 inception=None):
        self.dataset = dataset
        self.classifier = Classifier(dataset, data_dir, manual_dir, cache_dir)
        self.info = self.classifier.info
        test = data.load(dataset, data_dir, manual_dir, download=False, split='test')
        real_images, real_labels = data.arrays(test)
        self.num_classes = test.num_classes
        self.real_shares = np.bincount(real_labels, minlength=self.num_classes) / len(real_labels)
        self.real_count = len(real_images)
        reference = self._reference(real_images, data_dir, manual_dir,
                                    cache_folder(cache_dir, data_dir))
        self.real_features, self.train_features = reference['real'], reference['train']
        self.real_radii = {3: reference['radii3'], 5: reference['radii5']}
        self.train_spacing = reference['spacing']
        self.real_gaussian = quality.gaussian(self.real_features)
        self.inception = inception
        if inception:
            self.real_inception = inception.real_statistics(
                dataset, real_images, cache_folder(cache_dir, data_dir))

    def _reference(self, real_images, data_dir, manual_dir, cache):
        """The real images' side of every metric, computed once per judge and
        kept beside it: the test split's features and nearest-neighbour radii,
        and the features of MEMORY_IMAGES training images (the memorisation
        figure's) with each one's distance to its nearest other."""
        path = os.path.join(cache, f'{self.dataset}.{MAKE}.reference.npz')
        if os.path.exists(path) and os.path.getmtime(path) >= self.classifier.trained_at:
            with np.load(path) as kept:
                return dict(kept)
        real, _ = self.classifier.features_and_probabilities(real_images)
        train, _ = data.arrays(data.load(self.dataset, data_dir, manual_dir, download=False))
        remembered = np.random.default_rng(0).permutation(len(train))[:MEMORY_IMAGES]
        train, _ = self.classifier.features_and_probabilities(train[remembered])
        reference = dict(real=real, train=train,
                         radii3=quality.nearest_neighbour_radii(real, 3),
                         radii5=quality.nearest_neighbour_radii(real, 5),
                         spacing=np.sqrt(quality.nearest_neighbour_radii(train, 1)))
        buffer = io.BytesIO()
        np.savez(buffer, **reference)
        artifacts.write_file(path, buffer.getvalue())
        return reference

    def score(self, samples, kid_subsets=100, labels=None):
        """A dict of every metric for `samples`, images in [-1, 1], NHWC.
        `labels`: the classes a conditional generator was asked for, one per
        sample; adds `label_accuracy`, the share the classifier puts in them."""
        samples = np.asarray(samples, np.float32)
        if len(samples) < 6:  # k=5 neighbours among the samples, plus itself
            raise UserError(f'{len(samples)} samples: need at least 6 to score')
        expected = self.classifier.image_shape
        if tuple(samples.shape[1:]) != expected:
            raise UserError(f'samples of shape {samples.shape[1:]} cannot be compared '
                            f'with {self.dataset} images of shape {expected}')
        if not np.isfinite(samples).all():
            raise UserError('samples hold NaN or Inf: a diverged generator?')
        features, probabilities = self.classifier.features_and_probabilities(samples)
        kid, kid_std = quality.kernel_distance(features, self.real_features, kid_subsets)
        precision, recall = quality.precision_and_recall(
            self.real_features, features, 3, self.real_radii[3])
        density, coverage = quality.density_and_coverage(
            self.real_features, features, 5, self.real_radii[5])
        classes = quality.class_statistics(probabilities, self.real_shares)
        memorised = quality.memorised_share(features, self.train_features, self.train_spacing)
        result = {
            'samples': len(samples),
            'fid': quality.frechet_distance_of_gaussians(*quality.gaussian(features),
                                                         *self.real_gaussian),
            'kid': kid,
            'kid_std': kid_std,
            'precision': precision,
            'recall': recall,
            'density': density,
            'coverage': coverage,
            'memorised': memorised,
            **{key: classes[key] for key in ('classes_covered', 'class_kl',
                                             'classifier_score', 'confident',
                                             'class_shares')},
            'classifier_test_accuracy': self.info['test_accuracy'],
        }
        if labels is not None:
            result['label_accuracy'] = float(np.mean(probabilities.argmax(1) ==
                                                     np.asarray(labels)))
        if self.inception:
            result['inception_fid'] = quality.frechet_distance_of_gaussians(
                *quality.gaussian(self.inception.features(samples)), *self.real_inception)
        return result


    def class_probabilities(self, images):
        """The judging classifier's class probabilities of a few images."""
        return self.classifier.class_probabilities(images)

    def realistic_share(self, images):
        """The share of a few images that lie among real ones: inside the real
        test images' k=3 nearest-neighbour balls in the judge's features (the
        health monitor's test that samples are judged at all: the classifier
        itself is confident even on noise)."""
        features = self.classifier.model_features(images)
        return quality.share_inside(features, self.real_features, self.real_radii[3])

    def memorised_share(self, images):
        """The share of a few images that copy a training image
        (`quality.memorised_share`)."""
        return quality.memorised_share(self.classifier.model_features(images),
                                       self.train_features, self.train_spacing)


def evaluate_samples(samples, dataset, data_dir='', manual_dir='', cache_dir='',
                     inception=None, labels=None):
    """Scores `samples` (images in [-1, 1], NHWC) against `dataset`'s test split.

    `inception`: an `Inception` to add `inception_fid`. For many calls, keep an
    `Evaluator` instead: this loads the classifier and real data every time.
    """
    return Evaluator(dataset, data_dir, manual_dir, cache_dir, inception).score(
        samples, labels=labels)


# ----------------------------------------------------- python -m gan_tf.evaluate

HINTS = {**dict.fromkeys(('fid', 'kid', 'class_kl', 'inception_fid'), 'lower is better'),
         'memorised': 'share copying a training image; about 0 for new images',
         **dict.fromkeys(('precision', 'recall', 'coverage', 'classes_covered',
                          'classifier_score', 'confident'), 'higher is better'),
         'density': 'about 1 for real data',
         'label_accuracy': 'higher is better (share of the class asked for)'}


def format_table(result):
    """The result as aligned lines: name, value, which way is better."""
    lines = []
    for key, value in result.items():
        if key == 'kid_std':
            continue  # printed with kid
        if key == 'kid':
            text = f'{value:.5f} +- {result["kid_std"]:.5f}'
        elif key == 'class_shares':
            text = ' '.join(f'{s:.3f}' for s in value)
        elif isinstance(value, float):
            text = f'{value:.4f}'
        else:
            text = str(value)
        lines.append(f'{key:26s} {text:22s} {HINTS.get(key, "")}'.rstrip())
    return '\n'.join(lines)


def evaluate(flags):
    """`python -m gan_tf.evaluate`: scores the samples of one source (`flags`:
    see `gan_tf.evaluate`), prints the table and writes --json."""
    weights = inception_weights_path(flags.inception_weights)
    source = sources.open_source(flags.export_dir, flags.checkpoint, flags.samples)
    samples, labels = source.sample(flags.num, flags.seed)
    inception = Inception(weights, flags.inception_size) if weights else None
    result = evaluate_samples(samples, flags.dataset, flags.data_dir, flags.manual_dir,
                              inception=inception, labels=labels)
    print(f'{result["samples"]} samples from {source.name} against the '
          f'{flags.dataset} test split')
    print(format_table(result))
    if not inception:
        result['inception_fid'] = None
        print(INCEPTION_MISSING)
    if flags.json:
        artifacts.write_file(flags.json, json.dumps(result, indent=2))
