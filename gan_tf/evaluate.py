"""Sample quality in a classifier's feature space: `python -m gan_tf.evaluate`.

Inception weights cannot be downloaded offline, and MNIST-like data needs no
ImageNet features anyway: a small classifier, trained once per dataset on the
real training split (seeded, cached on disk with its test accuracy), judges the
samples against the real test split. In its penultimate layer's features:

  fid               Frechet distance between feature Gaussians (Heusel et al. 2017,
                    "GANs trained by a two time-scale update rule"); 0 for
                    identical distributions. Biased upwards for few samples.
  kid, kid_std      kernel distance: unbiased MMD^2 with a cubic polynomial kernel,
                    mean and spread over subsets (Binkowski et al. 2018,
                    "Demystifying MMD GANs"); about 0 for identical distributions,
                    and unbiased, so comparable across sample counts.
  precision, recall share of samples inside the real data's k=3 nearest-neighbour
                    balls, and of real images inside the samples' (Kynkaanniemi et
                    al. 2019, "Improved precision and recall metric for assessing
                    generative models"): fidelity and diversity.
  density, coverage how many real k=5 neighbour balls hold a sample, on average
                    (about 1 when alike), and the share of real balls holding at
                    least one (Naeem et al. 2020, "Reliable fidelity and diversity
                    metrics for generative models").
From its predicted classes:
  classes_covered   classes predicted for at least a fifth of their fair share
                    of the samples (2% for 10 classes): the modes covered.
  class_kl          KL(sample class histogram || real class histogram), nats.
  classifier_score  exp(E KL(p(y|x) || p(y))): the Inception Score's analogue.
  confident         share of samples the classifier labels with p > 0.9.
  class_shares      the sample class histogram itself.
And, when InceptionV3 weights are at hand (`--inception_weights`, or Keras'
cache), `inception_fid`: the usual FID, in InceptionV3's pool features.

    python -m gan_tf.evaluate --export_dir=out/RUN/export --dataset=mnist
    python -m gan_tf.evaluate --checkpoint=out/RUN      # or out/RUN/checkpoints/ckpt-N
    python -m gan_tf.evaluate --samples=samples.npy --dataset=mnist --json=result.json

During training, `Evaluator` holds the classifier and the real features, and
`gan_tf.callbacks.PeriodicEvaluation` scores the generator every N steps.
"""
import hashlib
import json
import os
import warnings

import numpy as np
import scipy.linalg

from gan_tf import input_pipeline, sample
from gan_tf.errors import UserError, first_line

FEATURES = 'features'  # name of the classifier layer whose outputs are the features
INCEPTION_FILE = 'inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5'
# Largest block of pairwise distances held at once: 2**23 float32 = 32 MiB.
BLOCK = 2 ** 23


def load_classifier(dataset, data_dir='', manual_dir='', cache_dir='', seed=0):
    """(classifier, info): the cached classifier for `dataset`, trained if absent.

    The classifier maps images in [-1, 1] to logits; its layer FEATURES gives the
    features. `info` records its test accuracy and how it was trained.
    """
    import keras
    path = os.path.join(_cache_dir(cache_dir, data_dir), f'{dataset}.keras')
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
    os.makedirs(os.path.dirname(path), exist_ok=True)
    classifier.save(path)
    with open(f'{path}.json', 'w') as f:
        json.dump(info, f)
    return classifier, info


def _cache_dir(cache_dir, data_dir):
    return cache_dir or os.path.join(
        data_dir or input_pipeline.default_data_dir(), 'gan_tf_classifiers')


def _arrays(data):
    """(images in [-1, 1], labels) of a whole split as numpy arrays."""
    batches = list(data.examples.batch(10_000))
    images = np.concatenate([b['image'].numpy() for b in batches])
    labels = np.concatenate([b['label'].numpy() for b in batches])
    return input_pipeline.to_unit_range(images).numpy(), labels


def _features_model(classifier):
    """One model giving both the features and the logits of the classifier."""
    import keras
    return keras.Model(classifier.inputs,
                       [classifier.get_layer(FEATURES).output, classifier.outputs[0]])


def features_and_probabilities(classifier, images, batch_size=1000):
    """Feature vectors and class probabilities of images in [-1, 1]."""
    return _predict(_features_model(classifier), images, batch_size)


def _predict(both, images, batch_size=1000):
    import tensorflow as tf
    features, logits = both.predict(np.asarray(images, np.float32),
                                    batch_size=batch_size, verbose=0)
    return features, tf.nn.softmax(logits).numpy()


def frechet_distance(features_a, features_b):
    """Frechet distance between Gaussians fitted to two sets of feature vectors
    (Heusel et al. 2017)."""
    return _frechet(*_gaussian(features_a), *_gaussian(features_b))


def _gaussian(features):
    return features.mean(0), np.cov(features, rowvar=False)


def _frechet(mean_a, cov_a, mean_b, cov_b):
    with warnings.catch_warnings():  # near-singular products are handled below
        warnings.simplefilter('ignore', scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(root).all():  # dead features make the product singular
            offset = np.eye(len(cov_a)) * 1e-6
            root = scipy.linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    root = root.real  # numerical noise can leave tiny imaginary parts
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def kernel_distance(features_a, features_b, subsets=100, subset_size=1000, seed=0):
    """(mean, std) of the Kernel Inception Distance's estimate over random subsets.

    Binkowski et al. 2018, "Demystifying MMD GANs": the unbiased estimate of
    MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3, d the feature size, on
    `subsets` pairs of subsets of `subset_size` vectors (fewer if a set is
    smaller) drawn without replacement. Unbiased: about 0 for two samples of one
    distribution (it can dip below 0), whatever the sample size.
    """
    a = np.asarray(features_a, np.float64)
    b = np.asarray(features_b, np.float64)
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError('kernel_distance needs at least 2 vectors in each set')
    rng = np.random.default_rng(seed)

    def kernel_sum(x, y, without_diagonal=False):
        k = x @ y.T
        k /= a.shape[1]
        k += 1
        cube = k * k
        cube *= k  # in place, and not `** 3`: a third of the time
        return cube.sum() - (np.trace(cube) if without_diagonal else 0)

    estimates = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        within = kernel_sum(x, x, True) + kernel_sum(y, y, True)
        estimates.append(within / (m * (m - 1)) - 2 * kernel_sum(x, y) / m ** 2)
    return float(np.mean(estimates)), float(np.std(estimates))


def _squared_distances(a, b):
    """Yields (start, block): the squared Euclidean distances of rows
    a[start:start + len(block)] to every row of b, a few rows at a time, so
    that 10,000 x 10,000 comparisons never hold the whole matrix. In float32:
    twice as fast as float64, and its rounding (about 1e-7 of the squared
    norms) is far below the gaps between neighbours."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    b_norms = np.sum(b * b, axis=1)
    rows = max(1, BLOCK // max(1, len(b)))
    for start in range(0, len(a), rows):
        x = a[start:start + rows]
        block = np.sum(x * x, axis=1)[:, None] + b_norms[None] - 2 * x @ b.T
        yield start, np.maximum(block, 0)  # rounding can leave tiny negatives


def nearest_neighbour_radii(features, k):
    """Squared distance of each vector to its k-th nearest neighbour in `features`
    (itself excluded): the radius of its ball in the k-NN manifold estimates."""
    if len(features) <= k:
        raise ValueError(f'need more than k={k} vectors for k-nearest-neighbour balls')
    radii = np.empty(len(features), np.float32)
    for start, block in _squared_distances(features, features):
        # Index k of the sorted row: index 0 is the vector itself, at distance 0.
        radii[start:start + len(block)] = np.partition(block, k, axis=1)[:, k]
    return radii


def _share_inside(points, centres, radii):
    """Share of `points` inside at least one ball (centre, squared radius)."""
    inside = 0
    for _, block in _squared_distances(points, centres):
        inside += np.count_nonzero((block <= radii[None]).any(axis=1))
    return inside / len(points)


def precision_and_recall(real, fake, k=3, real_radii=None):
    """(precision, recall) of feature vectors `fake` against `real`.

    Kynkaanniemi et al. 2019, "Improved precision and recall metric for
    assessing generative models": each set's manifold is the union of balls
    reaching each vector's k-th nearest neighbour in its own set. Precision: the
    share of fake vectors inside the real manifold; recall: the share of real
    vectors inside the fake one. `real_radii`: `nearest_neighbour_radii(real, k)`,
    if already computed.
    """
    if real_radii is None:
        real_radii = nearest_neighbour_radii(real, k)
    fake_radii = nearest_neighbour_radii(fake, k)
    return (float(_share_inside(fake, real, real_radii)),
            float(_share_inside(real, fake, fake_radii)))


def density_and_coverage(real, fake, k=5, real_radii=None):
    """(density, coverage) of feature vectors `fake` against `real`.

    Naeem et al. 2020, "Reliable fidelity and diversity metrics for generative
    models": with balls around the real vectors only, reaching each one's k-th
    nearest real neighbour, density is the mean number of balls holding a fake
    vector, divided by k (about 1 when fake and real match; above 1 where fakes
    crowd dense regions); coverage is the share of real balls holding at least
    one fake vector. Unlike precision and recall, robust to real outliers.
    `real_radii`: `nearest_neighbour_radii(real, k)`, if already computed.
    """
    if real_radii is None:
        real_radii = nearest_neighbour_radii(real, k)
    balls_holding = 0
    nearest_fake = np.full(len(real), np.inf)
    for _, block in _squared_distances(fake, real):
        inside = block <= real_radii[None]
        balls_holding += np.count_nonzero(inside)
        nearest_fake = np.minimum(nearest_fake, block.min(axis=0))
    density = balls_holding / (k * len(fake))
    return float(density), float(np.mean(nearest_fake <= real_radii))


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
        import keras
        if size < 75:
            raise UserError(f'--inception_size={size}: InceptionV3 needs at least 75')
        self.weights, self.size = weights, size
        self.model = keras.applications.InceptionV3(
            include_top=False, weights=weights, pooling='avg',
            input_shape=(size, size, 3))

    def features(self, images, batch_size=50):
        import tensorflow as tf
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
        mean, cov = _gaussian(self.features(real_images))
        if path:
            os.makedirs(cache_dir, exist_ok=True)
            np.savez(path, mean=mean, cov=cov)
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
        self.classifier, self.info = load_classifier(dataset, data_dir, manual_dir,
                                                     cache_dir)
        self.model = _features_model(self.classifier)
        test = input_pipeline.load(dataset, data_dir, manual_dir, download=False,
                                   split='test')
        real_images, real_labels = _arrays(test)
        self.real_count = len(real_images)
        self.real_features, _ = _predict(self.model, real_images)
        self.real_gaussian = _gaussian(self.real_features)
        self.num_classes = test.num_classes
        self.real_shares = np.bincount(real_labels, minlength=self.num_classes) / len(real_labels)
        self.real_radii = {k: nearest_neighbour_radii(self.real_features, k)
                           for k in (3, 5)}
        self.inception = inception
        if inception:
            self.real_inception = inception.real_statistics(
                dataset, real_images, _cache_dir(cache_dir, data_dir))

    def score(self, samples, kid_subsets=100, labels=None):
        """A dict of every metric for `samples`, images in [-1, 1], NHWC.
        `labels`: the classes a conditional generator was asked for, one per
        sample; adds `label_accuracy`, the share the classifier puts in them."""
        samples = np.asarray(samples, np.float32)
        if len(samples) < 6:  # k=5 neighbours among the samples, plus itself
            raise UserError(f'{len(samples)} samples: need at least 6 to score')
        expected = self.model.inputs[0].shape[1:]
        if tuple(samples.shape[1:]) != tuple(expected):
            raise UserError(f'samples of shape {samples.shape[1:]} cannot be compared '
                            f'with {self.dataset} images of shape {tuple(expected)}')
        if not np.isfinite(samples).all():
            raise UserError('samples hold NaN or Inf: a diverged generator?')
        features, probabilities = _predict(self.model, samples)
        classes = self.num_classes
        shares = np.bincount(probabilities.argmax(1), minlength=classes) / len(samples)
        marginal = probabilities.mean(0)
        eps = 1e-12
        kid, kid_std = kernel_distance(features, self.real_features, kid_subsets)
        precision, recall = precision_and_recall(
            self.real_features, features, 3, self.real_radii[3])
        density, coverage = density_and_coverage(
            self.real_features, features, 5, self.real_radii[5])
        result = {
            'samples': len(samples),
            'fid': _frechet(*_gaussian(features), *self.real_gaussian),
            'kid': kid,
            'kid_std': kid_std,
            'precision': precision,
            'recall': recall,
            'density': density,
            'coverage': coverage,
            'classes_covered': int(np.sum(shares >= 0.2 / classes)),
            'class_kl': float(np.sum(shares * np.log((shares + eps) / self.real_shares))),
            'classifier_score': float(np.exp(np.mean(np.sum(
                probabilities * (np.log(probabilities + eps) - np.log(marginal + eps)),
                axis=1)))),
            'confident': float(np.mean(probabilities.max(1) > 0.9)),
            'class_shares': [round(float(s), 4) for s in shares],
            'classifier_test_accuracy': self.info['test_accuracy'],
        }
        if labels is not None:
            result['label_accuracy'] = float(np.mean(probabilities.argmax(1) ==
                                                     np.asarray(labels)))
        if self.inception:
            result['inception_fid'] = _frechet(
                *_gaussian(self.inception.features(samples)), *self.real_inception)
        return result


def evaluate_samples(samples, dataset, data_dir='', manual_dir='', cache_dir='',
                     inception=None, labels=None):
    """Scores `samples` (images in [-1, 1], NHWC) against `dataset`'s test split.

    `inception`: an `Inception` to add `inception_fid`. For many calls, keep an
    `Evaluator` instead: this loads the classifier and real data every time.
    """
    return Evaluator(dataset, data_dir, manual_dir, cache_dir, inception).score(
        samples, labels=labels)


# ------------------------------------------------------------ sample sources

class Checkpointed:
    """The generator of a training checkpoint, drawing z as its export would.

    `path`: a run directory (its latest checkpoint), its checkpoints/ folder, or
    one checkpoint prefix such as out/RUN/checkpoints/ckpt-1000. The generator is
    rebuilt from the run's config.json and only its weights are restored.
    """

    def __init__(self, path):
        import tensorflow as tf
        path = os.path.normpath(path)
        if os.path.isdir(path):
            run_dir, prefix = path, tf.train.latest_checkpoint(os.path.join(path, 'checkpoints'))
            if not prefix and tf.train.latest_checkpoint(path):
                run_dir, prefix = os.path.dirname(path), tf.train.latest_checkpoint(path)
            if not prefix:
                raise UserError(f'--checkpoint={path}: no checkpoint in '
                                f'{os.path.join(path, "checkpoints")}')
        elif os.path.exists(f'{path}.index'):
            run_dir, prefix = os.path.dirname(os.path.dirname(path)), path
        else:
            raise UserError(f'--checkpoint={path}: neither a run directory nor a '
                            'checkpoint (pass out/RUN or out/RUN/checkpoints/ckpt-N)')
        try:
            with open(os.path.join(run_dir, 'config.json')) as f:
                record = json.load(f)
        except OSError as e:
            raise UserError(f'--checkpoint={path}: no config.json in the run '
                            f'directory {run_dir} ({e.strerror})') from None
        config = record['config']
        self.latent_dim, self.noise_kind = config['latent_dim'], config['noise']
        self.num_classes = record.get('num_classes', 0) if config.get('conditional') else 0
        self.generator = self._restore(prefix, config, record['image_shape'],
                                       self.num_classes)
        self.prefix = prefix

    @staticmethod
    def _restore(prefix, config, image_shape, num_classes):
        """The generator to sample from (its moving average, if the run kept
        one), with the checkpoint's weights, rebuilt as `train.build_gan` builds it.
        A conditional one draws image i of class i % num_classes."""
        import tensorflow as tf
        from gan_tf import train
        from gan_tf.config import Config
        try:
            gan = train.build_gan(Config.from_record(config), tuple(image_shape),
                                  num_classes)
        except (ValueError, TypeError) as e:  # e.g. an architecture registered
            raise UserError(f'cannot rebuild the generator of {prefix}: {e}') from None
        try:
            if any(name.startswith('generator_weights/')
                   for name, _ in tf.train.list_variables(prefix)):
                return train.restore_generator(gan, prefix)
            # Older checkpoints reach the generator's weights only through the
            # optimizer's list of the variables it trains.
            tf.train.Checkpoint(generator=gan.generator, g_optimizer=gan.g_optimizer
                                ).restore(prefix).expect_partial()
            return gan.generator
        except (AssertionError, ValueError) as e:
            raise UserError(f'--checkpoint={prefix} does not match its config.json '
                            f'({first_line(e)})') from None

    def noise(self, num, seed):
        from gan_tf.export import noise_from_seed
        return noise_from_seed(self.noise_kind, num, self.latent_dim, seed)

    def sample(self, num, seed=0, batch_size=1000):
        """`num` images for `seed`: the same as the run's export gives for it
        (conditional: image i of class i % num_classes)."""
        z = self.noise(num, seed)
        labels = [np.arange(num) % self.num_classes] if self.num_classes else []
        return np.concatenate([
            self.generator(z[i:i + batch_size], *[l[i:i + batch_size] for l in labels],
                           training=False).numpy()
            for i in range(0, num, batch_size)])


# --------------------------------------------------------------------- the CLI

HINTS = {**dict.fromkeys(('fid', 'kid', 'class_kl', 'inception_fid'), 'lower is better'),
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


def load_samples(path):
    """The images of a .npy file; UserError naming the file if it holds none."""
    try:
        return np.load(path)
    except (EOFError, ValueError) as e:  # empty, cut short, pickled, not .npy
        raise UserError(f'--samples={path}: not a .npy array of images ({e}); '
                        'write one with numpy.save or gan_tf.sample --npy') from None


def main(argv):
    from absl import flags, logging
    del argv
    FLAGS = flags.FLAGS
    if not FLAGS['verbosity'].present:
        logging.set_verbosity(logging.WARNING)  # tfds and SavedModel INFO chatter
    sources = [name for name in ('export_dir', 'checkpoint', 'samples') if FLAGS[name].value]
    if len(sources) != 1:
        raise SystemExit('error: give exactly one of --export_dir, --checkpoint or '
                         f'--samples (got {", ".join("--" + s for s in sources) or "none"})')
    try:
        weights = inception_weights_path(FLAGS.inception_weights)
        labels = None  # conditional sources draw image i of class i % classes
        if FLAGS.samples:
            samples = load_samples(FLAGS.samples)
        else:
            source = (sample.Exported(FLAGS.export_dir) if FLAGS.export_dir else
                      Checkpointed(FLAGS.checkpoint))
            samples = source.sample(FLAGS.num, FLAGS.seed)
            if source.num_classes:
                labels = np.arange(FLAGS.num) % source.num_classes
        inception = Inception(weights, FLAGS.inception_size) if weights else None
        result = evaluate_samples(samples, FLAGS.dataset, FLAGS.data_dir,
                                  FLAGS.manual_dir, inception=inception, labels=labels)
    except (UserError, OSError, ValueError) as e:
        raise SystemExit(f'error: {e}') from None
    print(f'{result["samples"]} samples from --{sources[0]}={FLAGS[sources[0]].value} '
          f'against the {FLAGS.dataset} test split')
    print(format_table(result))
    if not inception:
        result['inception_fid'] = None
        print(INCEPTION_MISSING)
    if FLAGS.json:
        with open(FLAGS.json, 'w') as f:
            json.dump(result, f, indent=2)


def run():
    from absl import app, flags
    flags.DEFINE_string('export_dir', '', 'A SavedModel export to sample from.')
    flags.DEFINE_string('checkpoint', '', 'A run directory (its latest checkpoint) or '
                        'a checkpoint prefix, e.g. out/RUN/checkpoints/ckpt-1000.')
    flags.DEFINE_string('samples', '', 'A .npy of images in [-1, 1], NHWC.')
    flags.DEFINE_integer('num', 10_000, 'Samples to draw from --export_dir or '
                         '--checkpoint.', lower_bound=6)
    flags.DEFINE_integer('seed', 0, 'Seed of the noise (as gan_tf.sample --seed).')
    flags.DEFINE_string('dataset', 'mnist', 'The real data to compare with.')
    flags.DEFINE_string('data_dir', '', 'tensorflow-datasets data directory.')
    flags.DEFINE_string('manual_dir', '', "Folder of the dataset's original files.")
    flags.DEFINE_string('inception_weights', '', 'Keras InceptionV3 no-top weights '
                        f'(.h5) for inception_fid (default: {INCEPTION_FILE} in '
                        "Keras' cache, ~/.keras/models, if there).")
    flags.DEFINE_integer('inception_size', 299, 'Side images are resized to for '
                         'InceptionV3: 299 compares with published FIDs. On 2 CPU '
                         'cores InceptionV3 takes about 11 minutes per 10,000 images '
                         'at 299, 1 minute at 75 (the least); the real ones only '
                         'once (cached).', lower_bound=75)
    flags.DEFINE_string('json', '', 'Also write the result to this JSON file.')
    app.run(main)


if __name__ == '__main__':
    run()
