"""Sample-quality metrics: pure functions of feature vectors and class probabilities.

Each takes numpy arrays (features of real and generated images in some judge's
feature space, or a classifier's probabilities) and returns numbers; none knows
about models, files or TensorFlow. `gan_tf.judge` computes the features and
assembles the metrics; the papers are named in each docstring.
"""
import warnings

import numpy as np
import scipy.linalg

# Largest block of pairwise distances held at once: 2**23 float32 = 32 MiB.
DISTANCE_BLOCK = 2 ** 23
# A class counts as covered by samples classified into it at least this fraction
# of its fair share (2% of them for 10 classes).
COVERED_FAIR_SHARE = 0.2
# A sample counts as recognisable (`confident`) when the judge gives one class
# more than this probability.
CONFIDENT_PROBABILITY = 0.9
# A sample copies a training image when nearer to it than this share of that
# image's distance to its nearest other training image (`memorised_share`).
MEMORISED_RATIO = 0.5


def frechet_distance(features_a, features_b):
    """Frechet distance between Gaussians fitted to two sets of feature vectors
    (Heusel et al. 2017)."""
    return frechet_distance_of_gaussians(*gaussian(features_a), *gaussian(features_b))


def gaussian(features):
    """(mean, covariance) of a set of feature vectors, rows."""
    return features.mean(0), np.cov(features, rowvar=False)


def frechet_distance_of_gaussians(mean_a, cov_a, mean_b, cov_b):
    """The Frechet distance of two Gaussians given by mean and covariance."""
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
    rows = max(1, DISTANCE_BLOCK // max(1, len(b)))
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


def share_inside(points, centres, radii):
    """Share of `points` strictly inside at least one ball (centre, squared
    radius); strictly, as the `prdc` package (Naeem et al.'s code) counts."""
    inside = 0
    for _, block in _squared_distances(points, centres):
        inside += np.count_nonzero((block < radii[None]).any(axis=1))
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
    return (float(share_inside(fake, real, real_radii)),
            float(share_inside(real, fake, fake_radii)))


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
        inside = block < real_radii[None]
        balls_holding += np.count_nonzero(inside)
        nearest_fake = np.minimum(nearest_fake, block.min(axis=0))
    density = balls_holding / (k * len(fake))
    return float(density), float(np.mean(nearest_fake < real_radii))


def nearest(points, references):
    """(Euclidean distance, index) of each point's nearest reference vector."""
    distances = np.empty(len(points), np.float32)
    indices = np.empty(len(points), np.int64)
    for start, block in _squared_distances(points, references):
        rows = slice(start, start + len(block))
        indices[rows] = block.argmin(axis=1)
        distances[rows] = np.sqrt(block[np.arange(len(block)), indices[rows]])
    return distances, indices


def copy_ratios(features, train_features, train_spacing):
    """(ratio, index) of each sample: its distance to its nearest training image
    (in features) over that image's distance to its own nearest training
    neighbour (`train_spacing`: sqrt(nearest_neighbour_radii(train_features, 1))),
    and which training image that is. Below MEMORISED_RATIO: a copy."""
    distances, indices = nearest(features, train_features)
    return distances / np.maximum(train_spacing[indices], 1e-12), indices


def memorised_share(features, train_features, train_spacing, ratio=MEMORISED_RATIO):
    """The share of samples that copy a training image: nearer to their nearest
    training image than `ratio` times that image's distance to its own nearest
    training neighbour (`copy_ratios`). In the spirit of Alaa et al. 2022's
    authenticity ("How faithful is your synthetic data?"), with a margin: at
    ratio 1, some real images not in the training set count too."""
    ratios, _ = copy_ratios(features, train_features, train_spacing)
    return float(np.mean(ratios < ratio))


def class_statistics(probabilities, real_shares=None):
    """Modes and confidence of samples from a classifier's class probabilities
    [n, classes]: a dict of
      class_shares     the share of samples predicted as each class;
      classes_covered  classes predicted for at least COVERED_FAIR_SHARE of
                       their fair share of the samples: the modes covered;
      confident        the share classified with p > CONFIDENT_PROBABILITY;
      classifier_score exp(E KL(p(y|x) || p(y))), the Inception Score's analogue
                       (Salimans et al. 2016, "Improved techniques for training
                       GANs");
      class_kl         with `real_shares` (the real data's class histogram):
                       KL(sample histogram || real histogram), nats.
    """
    probabilities = np.asarray(probabilities, np.float64)
    classes = probabilities.shape[1]
    shares = np.bincount(probabilities.argmax(1), minlength=classes) / len(probabilities)
    marginal = probabilities.mean(0)
    eps = 1e-12
    result = {
        'classes_covered': int(np.sum(shares >= COVERED_FAIR_SHARE / classes)),
        'classifier_score': float(np.exp(np.mean(np.sum(
            probabilities * (np.log(probabilities + eps) - np.log(marginal + eps)),
            axis=1)))),
        'confident': float(np.mean(probabilities.max(1) > CONFIDENT_PROBABILITY)),
        'class_shares': [round(float(s), 4) for s in shares],
    }
    if real_shares is not None:
        result['class_kl'] = float(np.sum(shares * np.log((shares + eps) /
                                                          np.asarray(real_shares))))
    return result
