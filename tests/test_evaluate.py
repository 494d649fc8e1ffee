"""The sample-quality judge: its metrics on point sets whose answer can be worked
out by hand, and on real data where the answer is known."""
import csv
import glob
import json
import os
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
import scipy.spatial
import tensorflow as tf

from gan_tf import Config, artifacts, callbacks, judge, quality, runs, sources
from gan_tf import data as gan_data
from gan_tf.errors import UserError
from conftest import REPO, run_command, small_inception_stand_in

KID_SUBSETS = 20  # of the command line's 100: quicker, as unbiased


@pytest.fixture(scope='module')
def mnist_judge(mnist_data_dir):
    """An Evaluator over the real MNIST test split and 10,000 real training images.

    The classifier goes to the data directory's default cache, where the
    command-line runs below find it.
    """
    evaluator = judge.Evaluator('mnist', mnist_data_dir)
    train_images, train_labels = gan_data.arrays(
        gan_data.load('mnist', mnist_data_dir, download=False))
    return evaluator, train_images[:10_000], train_labels[:10_000]


@pytest.fixture(scope='module')
def real_result(mnist_judge):
    evaluator, images, _ = mnist_judge
    return evaluator.score(images, kid_subsets=KID_SUBSETS)


def test_classifier_is_accurate_and_cached(mnist_judge, mnist_data_dir):
    evaluator = mnist_judge[0]
    assert evaluator.info['test_accuracy'] > 0.96  # measured: 0.973 (suite's judge)
    _, again_info = judge.load_classifier('mnist', mnist_data_dir)
    assert again_info == evaluator.info  # loaded from the cache, not retrained


def test_real_training_images_score_like_the_test_split(real_result):
    result = real_result
    assert result['fid'] < 0.5  # measured: 0.035; uniform noise: 1,630
    assert abs(result['kid']) < 0.1  # measured: -0.004 +- 0.01; uniform noise: 7,600
    assert result['precision'] > 0.8 and result['recall'] > 0.8  # measured: 0.89, 0.91
    assert 0.85 < result['density'] < 1.15  # measured: 0.94
    assert result['coverage'] > 0.9  # measured: 0.96
    assert result['classes_covered'] == 10
    assert result['class_kl'] < 0.01
    assert result['classifier_score'] > 7  # near 10: confident and balanced; 8.2
    assert result['confident'] > 0.8  # measured: 0.86


def test_uniform_noise_is_far_from_the_data(mnist_judge, real_result):
    evaluator, images, _ = mnist_judge
    # 2,000 samples: noise is so far that a fifth of real_result's count shows it.
    noise = np.random.default_rng(0).uniform(-1, 1, (2000, *images.shape[1:])).astype(
        np.float32)
    result = evaluator.score(noise, kid_subsets=KID_SUBSETS)
    assert result['fid'] > 100 * max(real_result['fid'], 0.01)
    assert result['kid'] > 50 * max(real_result['kid'], real_result['kid_std'])
    assert result['recall'] < 0.05 and result['coverage'] < 0.05  # measured: 0, 0
    assert result['density'] < 0.5  # measured: 0
    assert result['classifier_score'] < 3


def test_one_class_gives_one_mode_low_coverage_and_a_poor_score(mnist_judge, real_result):
    evaluator, images, labels = mnist_judge
    result = evaluator.score(images[labels == 3], kid_subsets=KID_SUBSETS)
    assert result['classes_covered'] == 1
    assert result['class_shares'][3] > 0.95
    assert result['class_kl'] > 1.5  # about log(10)
    assert result['classifier_score'] < 1.5
    assert result['fid'] > 10 * real_result['fid']
    # Real 3s are faithful (precision as high as real data's) but cover about a
    # tenth of the data: measured coverage 0.10, recall 0.22.
    assert result['precision'] > 0.8
    assert result['coverage'] < 0.2 and result['recall'] < 0.4


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (20_000, 3))
    b = rng.normal(2, 1, (20_000, 3))  # mean shift 2 per axis: distance 3 * 4
    assert quality.frechet_distance(a, b) == pytest.approx(12, rel=0.02)
    assert quality.frechet_distance(a, a) == pytest.approx(0, abs=1e-6)


def test_kernel_distance_by_hand():
    # d = 1, k(x, y) = (xy + 1)^3: k(0, 0) = k(0, 1) = 1, k(1, 1) = 8, so the
    # unbiased MMD^2 of {0, 0} and {1, 1} is 1 + 8 - 2 * 1 = 7 on every subset.
    mean, std = quality.kernel_distance(np.zeros((2, 1)), np.ones((2, 1)), subsets=5)
    assert mean == pytest.approx(7) and std == pytest.approx(0)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
    same, same_std = quality.kernel_distance(a, b, subsets=20, subset_size=500)
    shifted, _ = quality.kernel_distance(a, b + 1, subsets=20, subset_size=500)
    assert abs(same) < 3 * same_std / np.sqrt(20) + 1e-3  # unbiased: about 0
    assert shifted > 100 * abs(same)


def test_precision_recall_density_coverage_by_hand():
    real = np.array([[0.], [1.], [2.], [3.]])  # each ball, k=1: radius 1
    fake = np.array([[0.5], [10.]])            # each ball, k=1: radius 9.5
    # 0.5 lies in the real balls of 0 and 1; 10 in none. Every real point lies
    # in the fake ball of 0.5. Real 0 and 1 have a fake point within 1; 2, 3 not.
    precision, recall = quality.precision_and_recall(real, fake, k=1)
    density, coverage = quality.density_and_coverage(real, fake, k=1)
    assert (precision, recall) == (0.5, 1.0)
    assert density == pytest.approx(2 / (1 * 2))  # 2 balls holding, k=1, 2 fakes
    assert coverage == 0.5


def test_identical_and_far_point_sets():
    points = np.random.default_rng(0).normal(size=(300, 4))
    assert quality.precision_and_recall(points, points) == (1.0, 1.0)
    assert quality.density_and_coverage(points, points)[1] == 1.0
    far = points + 100
    assert quality.precision_and_recall(points, far) == (0.0, 0.0)
    assert quality.density_and_coverage(points, far) == (0.0, 0.0)


def test_distances_in_small_blocks_match_the_full_matrix(monkeypatch):
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(200, 5)), rng.normal(0.3, 1, size=(150, 5))
    full = np.sort(scipy.spatial.distance.cdist(real, real, 'sqeuclidean'), axis=1)[:, 3]
    whole = (quality.precision_and_recall(real, fake),
             quality.density_and_coverage(real, fake))
    monkeypatch.setattr(quality, 'DISTANCE_BLOCK', 7 * 200)  # 7 rows a block, and a remainder
    assert np.allclose(quality.nearest_neighbour_radii(real, 3), full)
    assert (quality.precision_and_recall(real, fake),
            quality.density_and_coverage(real, fake)) == whole


def test_images_are_resized_for_inception_as_clean_fid_does():
    """Quantised to uint8 first, then an antialiased bicubic filter: a one-pixel
    checkerboard shrinks to flat grey within 3 levels of 255 (a plain bilinear
    resize leaves moire over most of the range), and upscaling agrees with TF's
    antialiased bicubic within a level on average.
    benchmarks/clean_fid_resize.py compares with clean-fid itself."""
    checkerboard = (np.indices((64, 64)).sum(0) % 2 * 2.0 - 1.0)[None, ..., None]
    small = judge.resize_for_inception(checkerboard.astype(np.float32), 21)
    assert small.shape == (1, 21, 21, 1) and np.ptp(small) * 127.5 < 3
    assert np.ptp(tf.image.resize(checkerboard, (21, 21)).numpy()) * 127.5 > 200
    levels = np.random.default_rng(0).integers(0, 256, (2, 20, 20, 3))
    images = (levels / 127.5 - 1).astype(np.float32)
    nudged = images + 0.2 / 127.5  # less than half a level: the same uint8 image
    resized = judge.resize_for_inception(images, 75)
    assert np.array_equal(resized, judge.resize_for_inception(nudged, 75))
    reference = tf.image.resize(levels.astype(np.float32), (75, 75), 'bicubic', antialias=True).numpy()
    assert np.abs((resized + 1) * 127.5 - reference).mean() < 1


def test_inception_features_of_gray_images_at_a_small_size():
    images = np.random.default_rng(0).uniform(-1, 1, (6, 28, 28, 1)).astype(np.float32)
    keras.utils.set_random_seed(0)
    random = judge.Inception(None, size=75)  # random weights: the plumbing only
    features = random.features(images, batch_size=4)
    assert features.shape == (6, 2048) and np.isfinite(features).all()


def test_inception_weights_come_from_a_file_and_real_features_are_kept(
        tmp_path, monkeypatch):
    small_inception_stand_in(monkeypatch)
    images = np.random.default_rng(0).uniform(-1, 1, (6, 28, 28, 1)).astype(np.float32)
    random = judge.Inception(None, size=75)
    weights = str(tmp_path / 'inception.weights.h5')
    random.model.save_weights(weights)
    loaded = judge.Inception(judge.inception_weights_path(weights), size=75)
    np.testing.assert_allclose(loaded.features(images), random.features(images), atol=1e-6)
    features = loaded.real_features('mnist', images, str(tmp_path / 'cache'))
    kept = loaded.real_features('mnist', images[:0], str(tmp_path / 'cache'))
    assert features.shape == (6, 8) and np.array_equal(kept, features)
    assert len(os.listdir(tmp_path / 'cache')) == 1


# Slow: test_folder_judge's run on a folder scores in (stand-in) Inception features
# in the default suite; this one checks the figures tell noise from digits.
@pytest.mark.slow
def test_with_inception_weights_every_distribution_metric_is_scored_in_its_features(
        mnist_judge, mnist_data_dir, tmp_path, monkeypatch):
    small_inception_stand_in(monkeypatch)
    keras.utils.set_random_seed(0)
    weights = str(tmp_path / 'inception.weights.h5')
    judge.Inception(None, size=75).model.save_weights(weights)
    evaluator = judge.Evaluator('mnist', mnist_data_dir,
                                inception=judge.Inception(weights, size=75))
    _, train_images, _ = mnist_judge
    real = evaluator.score(train_images[:500], kid_subsets=10)
    noise = evaluator.score(np.random.default_rng(0).uniform(
        -1, 1, (500, 28, 28, 1)).astype(np.float32), kid_subsets=10)
    assert set(judge.INCEPTION_METRICS) <= set(real)
    for key in ('fid', 'kid'):
        assert noise[f'inception_{key}'] > 10 * abs(real[f'inception_{key}']), key
    assert real['inception_precision'] > 0.5 > noise['inception_precision']
    table = judge.format_table(real)
    assert 'inception_kid ' in table and '+-' in table.split('inception_kid ')[1]


def test_inception_weights_are_found_in_the_keras_cache_or_not_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv('KERAS_HOME', str(tmp_path))
    monkeypatch.setattr(os.path, 'isfile', lambda p: p.startswith(str(tmp_path)) and
                        os.path.exists(p))  # hide any real /tmp/.keras copy
    assert judge.inception_weights_path() is None
    cached = tmp_path / 'models' / judge.INCEPTION_FILE
    cached.parent.mkdir()
    cached.write_bytes(b'')
    assert judge.inception_weights_path() == str(cached)
    with pytest.raises(UserError, match='no such file'):
        judge.inception_weights_path(str(tmp_path / 'missing.h5'))


def test_inception_weights_are_looked_for_where_they_serve(monkeypatch):
    """Named weights serve any images; during training, grey digits take no
    cached copy and nothing is fetched for them (gan_tf.evaluate takes the
    cached copy for any); too few real images or 'none': never, said in a line."""
    def fail(*args, **kwargs):
        raise AssertionError('looked for weights')
    monkeypatch.setattr(judge, 'inception_weights_path', fail)
    digits = types.SimpleNamespace(compares=True, photos=False)
    assert judge.add_inception(digits, cached_for_any=False) == ''
    assert judge.add_inception(digits, 'none') == (
        'inception_ metrics skipped (--inception_weights=none)')
    few = types.SimpleNamespace(compares=False, photos=True)
    assert judge.add_inception(few, 'weights.h5') == (
        'inception_fid and the other inception_ metrics: left out too')
    monkeypatch.setattr(judge, 'inception_weights_path', lambda path='': None)
    assert judge.add_inception(digits) == judge.INCEPTION_MISSING  # no fetch either


@pytest.mark.parametrize('content', [b'', b'\x93NUMPY\x01\x00', b'not numpy at all'],
                         ids=['empty', 'cut short', 'not npy'])
def test_samples_that_are_no_array_are_named_in_one_line(content, tmp_path):
    path = tmp_path / 'samples.npy'
    path.write_bytes(content)
    with pytest.raises(UserError, match=f'--samples={path}: not a .npy array'):
        sources.load_samples(str(path))
    np.save(path, np.zeros((6, 28, 28, 1), np.float32))
    assert sources.load_samples(str(path)).shape == (6, 28, 28, 1)


def test_checkpoint_gives_the_samples_of_its_export(short_run):
    """The export holds the generator of one step (config.json's "export"): its
    checkpoint gives the same images for a seed, another step's other ones."""
    run_dir, _ = short_run
    step = json.loads((run_dir / 'config.json').read_text())['export']['step']
    other = {20: 40, 40: 20}[step]
    checkpoints = run_dir / 'checkpoints'
    same = sources.CheckpointedGenerator(str(checkpoints / f'ckpt-{step}'))
    from_export, _ = sources.ExportedGenerator(str(run_dir / 'export')).sample(50, seed=4)
    np.testing.assert_allclose(same.sample(50, seed=4)[0], from_export, atol=1e-5)
    assert same.prefix.endswith(f'ckpt-{step}')
    another = sources.CheckpointedGenerator(str(checkpoints / f'ckpt-{other}'))
    assert not np.allclose(another.sample(50, seed=4)[0], from_export, atol=1e-3)


def evaluate_cli(*args, home, monkeypatch):
    """`python -m gan_tf.evaluate`, in this process, with no Keras cache of
    Inception weights."""
    from gan_tf import evaluate
    monkeypatch.setenv('HOME', str(home))
    monkeypatch.setenv('KERAS_HOME', str(home))
    return run_command(evaluate, *args)


def test_cli_scores_a_checkpoint_prints_a_table_and_writes_json(
        short_run, mnist_judge, mnist_data_dir, tmp_path, monkeypatch):
    run_dir, _ = short_run
    out = tmp_path / 'result.json'
    status, printed, err = evaluate_cli(
        f'--checkpoint={run_dir}', '--num=500', '--seed=4', f'--data_dir={mnist_data_dir}',
        f'--json={out}', home=tmp_path, monkeypatch=monkeypatch)
    assert status == 0, err
    written = json.loads(out.read_text())
    samples, _ = sources.CheckpointedGenerator(str(run_dir)).sample(500, seed=4)
    expected = mnist_judge[0].score(samples)
    for key in ('fid', 'kid', 'precision', 'recall', 'density', 'coverage', 'class_kl'):
        assert written[key] == pytest.approx(expected[key], rel=1e-3, abs=1e-6), key
        assert f'{key} ' in printed
    assert all(written[key] is None for key in judge.INCEPTION_METRICS)
    assert 'inception_ metrics skipped' in printed and '--inception_weights' in printed


@pytest.mark.parametrize('args, message', [
    (['--samples=a.npy', '--checkpoint=b'],
     'give exactly one of --export_dir, --checkpoint or --samples (got --checkpoint, --samples)'),
    (['--checkpoint=no/such/run'], 'neither a run directory nor a checkpoint'),
    (['--samples=no/such.npy'], 'No such file'),
    (['--samples=a.npy', '--inception_weights=no/such.h5'], 'no such file'),
])
def test_cli_mistakes_end_with_one_line(args, message, tmp_path, monkeypatch):
    """As a user meets them. The first, which the flags alone show, in its own
    process, answered before TensorFlow starts; the others in this one."""
    if args[1:] and args[1].startswith('--checkpoint'):
        env = {**os.environ, 'HOME': str(tmp_path), 'KERAS_HOME': str(tmp_path)}
        result = subprocess.run([sys.executable, '-m', 'gan_tf.evaluate', *args], env=env,
                                capture_output=True, text=True, timeout=300, cwd=REPO)
        status, error = result.returncode, result.stderr.strip().splitlines()[-1]
        assert 'Traceback' not in result.stderr
    else:
        status, _, error = evaluate_cli(*args, home=tmp_path, monkeypatch=monkeypatch)
    assert status == 1 and error.startswith('error: ') and message in error, error


def test_a_resumed_run_keeps_every_column_of_its_csv(tmp_path):
    """Resumed without the Inception weights an earlier process had: its column
    and figures stay, blank in the new rows; a new column joins, blank before."""
    path = str(tmp_path / 'evaluation.csv')
    assert artifacts.truncate_csv(path, ('step', 'fid'), 0) == ('step', 'fid')
    for step in (2, 4):  # the earlier process, killed after its step-2 checkpoint
        artifacts.append_csv(path, ('step', 'fid', 'inception_fid'),
                             {'step': step, 'fid': 1.5, 'inception_fid': 9.0})
    columns = artifacts.truncate_csv(path, ('step', 'fid', 'kid'), 2)
    assert columns == ('step', 'fid', 'inception_fid', 'kid')
    artifacts.append_csv(path, columns, {'step': 4, 'fid': 1.0, 'kid': 0.25})
    kept = artifacts.read_metrics(path)
    assert list(kept['step']) == [2, 4] and list(kept['fid']) == [1.5, 1.0]
    assert kept['inception_fid'][0] == 9.0 and np.isnan(kept['inception_fid'][1])
    assert np.isnan(kept['kid'][0]) and kept['kid'][1] == 0.25


def test_periodic_evaluation_during_fit(mnist_judge, mnist_data_dir, tmp_path):
    """Rows every 2 steps and at the end; resumed rows dropped; training untouched."""
    data = gan_data.load('mnist', mnist_data_dir, download=False)
    real = gan_data.arrays(data)[0][:32 * 5]
    config = Config(batch_size=32, seed=1)
    path = str(tmp_path / 'evaluation.csv')
    # Rows of an earlier process that got past step 2 before its checkpoint.
    with open(path, 'w', newline='') as f:
        out = csv.writer(f)
        out.writerow(callbacks.PeriodicEvaluation.COLUMNS)
        for step in (1, 2, 4):
            out.writerow([step, -1] + [0] * 9)

    writer = tf.summary.create_file_writer(str(tmp_path / 'tensorboard'))

    def fit(with_evaluation):
        keras.utils.set_random_seed(1)
        gan = runs.build_gan(config, data.image_shape)
        gan.g_optimizer.iterations.assign(2)  # as if resumed at step 2
        evaluation = callbacks.PeriodicEvaluation(mnist_judge[0], every=2, num_samples=300,
                                                  csv_path=path, writer=writer)
        gan.fit(real, batch_size=32, epochs=1, shuffle=False, verbose=0,
                callbacks=[evaluation] if with_evaluation else [])
        return gan, evaluation

    gan, evaluation = fit(True)
    assert int(gan.step) == 7
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    assert [int(r['step']) for r in rows] == [1, 2, 4, 6, 7]
    assert [float(r['fid']) for r in rows[:2]] == [-1, -1]  # kept from before
    assert all(float(r['fid']) > 0 for r in rows[2:])
    assert [r['step'] for r in evaluation.history] == [4, 6, 7]
    last = evaluation.history[-1]
    assert sum(last['class_shares']) == pytest.approx(1, abs=1e-3)
    assert float(rows[-1]['coverage']) == pytest.approx(last['coverage'])
    writer.close()
    events = [tf.compat.v1.Event.FromString(record.numpy()) for record in
              tf.data.TFRecordDataset(glob.glob(str(tmp_path / 'tensorboard' / '*')))]
    steps = sorted(e.step for e in events for v in e.summary.value if v.tag == 'eval/kid')
    assert steps == [4, 6, 7]
    # Its noise is its own: training without it ends with the same weights.
    plain, _ = fit(False)
    for a, b in zip(gan.generator.weights, plain.generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
