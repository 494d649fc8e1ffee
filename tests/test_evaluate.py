"""The sample-quality judge, checked on real data where the answer is known."""
import numpy as np
import pytest

from gan_tf import evaluate, input_pipeline


@pytest.fixture(scope='module')
def judge(mnist_data_dir, tmp_path_factory):
    cache = str(tmp_path_factory.mktemp('classifiers'))
    classifier, info = evaluate.load_classifier('mnist', mnist_data_dir, cache_dir=cache)
    train_images, train_labels = evaluate._arrays(
        input_pipeline.load('mnist', mnist_data_dir, download=False))
    score = lambda samples: evaluate.evaluate_samples(samples, 'mnist', mnist_data_dir,
                                                      cache_dir=cache)
    return score, info, train_images[:10_000], train_labels[:10_000], cache


def test_classifier_is_accurate_and_cached(judge, mnist_data_dir):
    _, info, _, _, _ = judge
    assert info['test_accuracy'] > 0.96  # measured: 0.973
    again, again_info = evaluate.load_classifier('mnist', mnist_data_dir,
                                                 cache_dir=judge[4])
    assert again_info == info  # loaded from the cache, not retrained


def test_real_training_images_score_like_the_test_split(judge):
    score, _, images, _, _ = judge
    result = score(images)
    assert result['fid'] < 2.0  # measured: 0.95; uniform noise: 260
    assert result['classes_covered'] == 10
    assert result['class_kl'] < 0.01
    assert result['classifier_score'] > 8  # near 10: confident and balanced
    assert result['confident'] > 0.9


def test_uniform_noise_is_far_from_the_data(judge):
    score, _, images, _, _ = judge
    real_fid = score(images)['fid']
    noise = np.random.default_rng(0).uniform(-1, 1, images.shape).astype(np.float32)
    result = score(noise)
    assert result['fid'] > 100 * max(real_fid, 0.01)
    assert result['classifier_score'] < 3


def test_one_class_gives_one_mode_and_a_poor_score(judge):
    score, _, images, labels, _ = judge
    result = score(images[labels == 3])
    assert result['classes_covered'] == 1
    assert result['class_shares'][3] > 0.95
    assert result['class_kl'] > 1.5  # about log(10)
    assert result['classifier_score'] < 1.5
    assert result['fid'] > 10 * score(images)['fid']


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (20_000, 3))
    b = rng.normal(2, 1, (20_000, 3))  # mean shift 2 per axis: distance 3 * 4
    assert evaluate.frechet_distance(a, b) == pytest.approx(12, rel=0.02)
    assert evaluate.frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
