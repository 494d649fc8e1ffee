"""Judging the samples of a folder of images: a labelled folder's judge learns
its classes (its accuracy on a held-out tenth recorded), an unlabelled one's
learns rotations and scores everything but classes, a changed folder gets a new
judge, none is ever written inside the folder, copies of training images are
flagged (a one-image folder's too, by the health monitor) and new images are
not; and a run on a folder is judged during training, in its report and by
gan_tf.evaluate.

Small synthetic folders of real digits and emoji at 32 px, and quick judges
(EPOCHS of one batch each); the slow test judges the whole emoji folder.
"""
import csv
import io
import json
import os
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

import image_folders
from conftest import error_of, run_command, small_inception_stand_in
from gan_tf import callbacks, evaluate, judge
from gan_tf import data as gan_data

EPOCHS = 10  # steps of one batch: a quick judge, whatever its accuracy


def digit_folder(root, classes=3, per_class=20, start=0):
    """Class folders of real MNIST digits (the `start`-th on of each class)."""
    digits, labels = image_folders.mnist(start + per_class)
    f = image_folders.Folder(root)
    for digit in range(classes):
        for i in np.flatnonzero(labels == digit)[start:start + per_class]:
            f.save(f'{digit}/{i}.png', Image.fromarray(digits[i]))
    return f.root


def emoji_folder(root, count, start=0):
    """The `start`-th real emoji on (far apart in the list: other pictures)."""
    os.makedirs(root)
    for path in image_folders.emoji_files(start + count)[start:]:
        shutil.copy(path, root)
    return str(root)


def images_of(folder, data_dir, **options):
    """A folder's images as its judge sees them: [-1, 1], at the training size."""
    return gan_data.arrays(gan_data.load(folder, data_dir, quiet=True, **options))[0]


@pytest.fixture(scope='module')
def labelled(tmp_path_factory):
    """A folder of 3 classes of 20 digits, its judge trained, and 20 new digits
    of each class in another folder."""
    root = tmp_path_factory.mktemp('labelled')
    folder, data_dir = digit_folder(root / 'digits'), str(root / 'data')
    before = image_folders.snapshot(folder)
    _, info = judge.load_classifier(folder, data_dir, epochs=EPOCHS)
    new = images_of(digit_folder(root / 'new', start=20), data_dir)
    return folder, data_dir, info, before, new


def test_a_labelled_folder_judge_learns_its_classes_and_records_its_accuracy(
        labelled, capsys):
    folder, data_dir, info, before, _ = labelled
    assert info['task'] == 'classes' and info['train_examples'] == 54
    assert info['held_out'] == 6 and info['held_out_from'] == 'a held-out tenth of the folder'
    assert 0 <= info['test_accuracy'] <= 1
    evaluator = judge.Evaluator(folder, data_dir)
    assert evaluator.info == info and 'judge: training' not in capsys.readouterr().out
    assert judge.describe(evaluator) == (
        f'judge: a network trained to tell the classes of {folder} images; '
        f'{info["test_accuracy"]:.1%} right on a held-out tenth of the folder (6 images)')
    assert evaluator.real_count == 60  # the reference: the whole folder
    result = evaluator.score(images_of(folder, data_dir), kid_subsets=5)
    assert result['classes_covered'] >= 1 and 'class_kl' in result
    assert result['fid'] < 1e-3 and result['coverage'] == 1  # the folder itself
    assert result['classifier_test_accuracy'] == info['test_accuracy']
    assert evaluator.left_out == []
    columns = callbacks.PeriodicEvaluation(evaluator, 10, 10, 'unused.csv').columns
    assert columns == callbacks.PeriodicEvaluation.COLUMNS
    # Kept beside the prepared images, never inside the folder.
    assert image_folders.snapshot(folder) == before
    assert sorted(os.listdir(os.path.join(data_dir, 'gan_tf_classifiers'))) == [
        f'digits-{evaluator.real.train.key[:16]}.conv1.{end}'
        for end in ('keras', 'keras.json', 'reference.npz')]


def test_copies_of_a_folder_are_memorised_and_new_images_are_not(labelled):
    folder, data_dir, _, _, new = labelled
    evaluator = judge.Evaluator(folder, data_dir)
    copies = images_of(folder, data_dir)
    assert evaluator.memorised_share(copies) == 1
    assert evaluator.memorised_share(new) < 0.1
    assert evaluator.score(np.concatenate([copies[:15], new[:45]]),
                           kid_subsets=5)['memorised'] == pytest.approx(0.25, abs=0.05)


def test_a_changed_folder_gets_a_new_judge(labelled, tmp_path, capsys):
    folder = str(tmp_path / 'digits')
    shutil.copytree(labelled[0], folder)  # the same files, sizes and times
    data_dir = labelled[1]
    capsys.readouterr()
    assert judge.load_classifier(folder, data_dir)[1] == labelled[2]  # the same judge
    assert 'judge: training' not in capsys.readouterr().out
    shutil.copy(os.path.join(folder, '0', sorted(os.listdir(os.path.join(folder, '0')))[0]),
                os.path.join(folder, '1', 'added.png'))
    before = image_folders.snapshot(folder)
    _, info = judge.load_classifier(folder, data_dir, epochs=1)
    assert 'judge: training a network' in capsys.readouterr().out
    assert info['train_examples'] == 54 and info['held_out'] == 7  # of 61
    kept = os.listdir(os.path.join(data_dir, 'gan_tf_classifiers'))
    assert len([name for name in kept if name.endswith('.keras')]) == 2
    assert image_folders.snapshot(folder) == before  # nothing written inside


@pytest.fixture(scope='module')
def unlabelled(tmp_path_factory):
    root = tmp_path_factory.mktemp('unlabelled')
    folder, data_dir = emoji_folder(root / 'emoji', 40), str(root / 'data')
    judge.load_classifier(folder, data_dir, epochs=EPOCHS, image_options={'image_size': 32})
    new = images_of(emoji_folder(root / 'new', 40, start=700), data_dir, image_size=32)
    return folder, data_dir, new


def test_an_unlabelled_folder_is_judged_in_rotation_features_without_classes(unlabelled):
    folder, data_dir, new = unlabelled
    evaluator = judge.Evaluator(folder, data_dir, image_options={'image_size': 32})
    assert evaluator.info['task'] == 'rotation' and evaluator.info['held_out'] == 4
    assert 'which of 4 rotations (0, 90, 180, 270 degrees) was given to' in \
        judge.describe(evaluator)
    assert evaluator.left_out == [
        f'classes_covered, class_kl, classifier_score, confident: left out: {folder} has '
        'no labels (a folder: no class subfolders), so its judge learned which of 4 '
        'rotations an image was given, which names no classes']
    copies = images_of(folder, data_dir, image_size=32)
    result = evaluator.score(np.concatenate([copies[:10], new[:30]]), kid_subsets=5)
    assert {'fid', 'kid', 'precision', 'recall', 'density', 'coverage'} <= set(result)
    assert not {'classes_covered', 'class_kl', 'class_shares'} & set(result)
    # 40 images lie far apart: a new one is now and then nearer one than half that.
    assert evaluator.memorised_share(new) <= 0.1
    assert 0.25 <= result['memorised'] <= 0.35
    columns = callbacks.PeriodicEvaluation(evaluator, 10, 10, 'unused.csv').columns
    assert columns == ('step', 'fid', 'kid', 'precision', 'recall', 'density',
                       'coverage', 'memorised')


def test_rotation_batches_turn_each_image_once_an_epoch_afresh_and_alike_for_a_seed():
    images = np.random.default_rng(0).uniform(-1, 1, (300, 5, 5, 2)).astype(np.float32)
    batches = judge.rotation_batches(images, seed=3)

    def epoch(batches):
        turned, turns = map(np.concatenate, zip(*[(x.numpy(), y.numpy()) for x, y in batches]))
        # Turning each image back (`rotated`, as the held-out images are turned)
        # gives every image once: the turns are the ones the labels say.
        upright = judge.rotated(turned, (4 - turns) % 4)
        return turned, turns, upright

    first, second = epoch(batches), epoch(batches)
    assert [len(y) for _, y in batches] == [128, 128, 44]
    flat = lambda a: sorted(map(bytes, a.reshape(len(a), -1).view(np.uint8)))  # noqa: E731
    for _, turns, upright in (first, second):
        assert flat(upright) == flat(images) and set(turns) == {0, 1, 2, 3}
    assert not np.array_equal(first[2], second[2])  # another order
    assert not np.array_equal(first[1], second[1])  # other turns
    again = epoch(judge.rotation_batches(images, seed=3))
    assert np.array_equal(again[0], first[0]) and np.array_equal(again[1], first[1])
    # A folder smaller than a batch fills one.
    assert [len(y) for _, y in judge.rotation_batches(images[:50], seed=3)] == [128]


def test_a_rotation_judge_trained_again_is_the_same_judge(unlabelled):
    folder, data_dir, _ = unlabelled
    options = {'image_size': 32}
    kept, info = judge.load_classifier(folder, data_dir, image_options=options)
    again, again_info = judge.train_classifier(judge.RealImages(folder, data_dir,
                                                                image_options=options),
                                               epochs=EPOCHS)
    assert info['task'] == 'rotation' and again_info['test_accuracy'] == info['test_accuracy']
    for a, b in zip(kept.weights, again.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


class SampleSource:
    """What the health monitor reads of a GAN, its samples fixed."""

    def __init__(self, images):
        self.images = images
        self.d_optimizer, self.g_optimizer = keras.optimizers.Adam(), keras.optimizers.Adam()

    def generator(self, noise, training=False):
        return self.images


def test_a_one_image_folder_is_flagged_when_samples_copy_it(tmp_path, unlabelled):
    folder = emoji_folder(tmp_path / 'one', 1)
    data_dir = str(tmp_path / 'data')
    judge.load_classifier(folder, data_dir, epochs=3, image_options={'image_size': 32})
    evaluator = judge.Evaluator(folder, data_dir, image_options={'image_size': 32})
    assert evaluator.metrics == ('memorised',)
    assert evaluator.left_out[0].startswith('fid, kid, precision, recall, density, '
                                            'coverage: left out: too few real images to '
                                            'compare distributions with (1; at least 10)')
    copies = np.repeat(images_of(folder, data_dir, image_size=32), 8, axis=0)
    new = unlabelled[2][:8]
    assert evaluator.score(copies)['memorised'] == 1
    assert evaluator.score(new)['memorised'] == 0
    out = io.StringIO()
    for samples, findings in ((new, []), (copies, ['memorisation'])):
        monitor = callbacks.HealthMonitor(judge=evaluator, stream=out)
        monitor.set_model(SampleSource(samples))
        monitor.noise, monitor.reference = None, None
        monitor.probe(500)
        monitor.probe(1000)  # two probes in a row
        assert [f.kind for f in monitor.findings] == findings
    assert 'memorisation: 100% of samples copy a training image' in out.getvalue()


class Generating:
    """What PeriodicEvaluation reads of a GAN; its generator gives `images`."""
    noise, latent_dim, step = 'normal', 8, 0

    def __init__(self, images):
        self.sampling_generator = lambda z, training=False: images[:len(z)]


def test_evaluation_rows_of_a_labelled_folder_count_classes_and_copies(labelled, tmp_path):
    folder, data_dir = labelled[:2]
    evaluator = judge.Evaluator(folder, data_dir)
    evaluation = callbacks.PeriodicEvaluation(
        evaluator, 100, 40, str(tmp_path / 'evaluation.csv'), kid_subsets=5,
        copies_path=str(tmp_path / 'copies.png'))
    evaluation.set_model(Generating(images_of(folder, data_dir)))
    evaluation.on_train_begin()
    evaluation.on_train_end()
    with open(tmp_path / 'evaluation.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == callbacks.PeriodicEvaluation.COLUMNS
    assert int(rows[0]['classes_covered']) >= 1 and float(rows[0]['memorised']) == 1
    grid = Image.open(tmp_path / 'copies.png')  # 2 rows of 8
    assert grid.size[0] > 3 * grid.size[1]
    samples, originals, ratios = evaluator.copies(images_of(folder, data_dir)[:20])
    assert (samples == originals).all() and (ratios == 0).all()


def test_a_folder_run_scores_in_inception_features_fetched_once(
        labelled, tmp_path, monkeypatch, capsys):
    """With no InceptionV3 weights here, a folder's images fetch them into Keras'
    cache: offline, one line says why they are missing (and a run trains on);
    online, a run's scorings add the inception_ columns; from then on the
    cached copy serves, with no fetch."""
    folder, data_dir, _, _, _ = labelled
    small_inception_stand_in(monkeypatch, load=False)
    keras_home = tmp_path / 'keras'
    monkeypatch.setenv('KERAS_HOME', str(keras_home))
    fetches = []
    failure = (f'URL fetch failure on {judge.INCEPTION_URL}: None -- [Errno -3] '
               'Temporary failure in name resolution')

    def offline(fname, origin, cache_subdir, file_hash):
        fetches.append(origin)
        raise Exception(failure)

    def online(fname, origin, cache_subdir, file_hash):
        fetches.append(origin)
        assert (origin, file_hash) == (judge.INCEPTION_URL, judge.INCEPTION_MD5)
        path = keras_home / cache_subdir / fname
        path.parent.mkdir(parents=True)
        path.write_bytes(b'the weights')  # the stand-in network only checks they are
        return str(path)

    monkeypatch.setattr(keras.utils, 'get_file', offline)
    judge.fetch_inception_weights.cache_clear()
    evaluator = judge.Evaluator(folder, data_dir)
    assert judge.add_inception(evaluator, cached_for_any=False) == (
        f'{judge.INCEPTION_MISSING}; fetching them failed: {failure}')
    assert evaluator.inception is None and len(fetches) == 1

    monkeypatch.setattr(keras.utils, 'get_file', online)
    judge.fetch_inception_weights.cache_clear()
    assert error_of([f'--dataset={folder}', f'--data_dir={data_dir}',
                     f'--out_dir={tmp_path}', '--run_name=run', '--arch=dcgan',
                     '--g_widths=16,8', '--d_widths=8,16', '--batch_size=16',
                     '--max_steps=2', '--eval_every=2', '--eval_samples=30',
                     '--nohealth_classes', '--log_every=2', '--sample_every=2',
                     '--checkpoint_every=2', '--noexport']) is None
    assert 'inception: each scoring adds inception_fid' in capsys.readouterr().out
    with open(tmp_path / 'run' / 'evaluation.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == (callbacks.PeriodicEvaluation.COLUMNS +
                              callbacks.PeriodicEvaluation.INCEPTION_COLUMNS)
    assert rows[-1]['step'] == '2' and float(rows[-1]['inception_fid']) > 0
    assert len(fetches) == 2

    assert judge.add_inception(evaluator, cached_for_any=False) == ''
    assert evaluator.inception.weights == str(keras_home / 'models' / judge.INCEPTION_FILE)
    assert 'inception_kid' in evaluator.score(images_of(folder, data_dir)[:20])
    assert len(fetches) == 2


@pytest.mark.slow
def test_a_run_on_a_folder_is_judged_and_evaluated_afterwards(labelled, tmp_path):
    folder, data_dir, info, _, _ = labelled
    out = tmp_path / 'out'
    error = error_of([f'--dataset={folder}', f'--data_dir={data_dir}', f'--out_dir={out}',
                      '--arch=dcgan', '--g_widths=16,8', '--d_widths=8,16',
                      '--batch_size=16', '--max_steps=2', '--eval_every=2',
                      '--eval_samples=30', '--health_every=2', '--log_every=1',
                      '--sample_every=2', '--checkpoint_every=2', '--noexport',
                      '--inception_weights=none'])  # no fetch from a test
    assert error is None, error
    run_dir = out / 'digits-dcgan-non_saturating'
    with open(run_dir / 'evaluation.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == callbacks.PeriodicEvaluation.COLUMNS and rows[-1]['step'] == '2'
    assert (run_dir / 'copies.png').is_file()
    record = json.loads((run_dir / 'config.json').read_text())
    assert record['judge']['test_accuracy'] == info['test_accuracy']
    page = (run_dir / 'report.html').read_text()
    assert 'right on a held-out tenth of the folder (6 images)' in page
    assert 'most-copied samples above their nearest training images' in page

    # The run's folder and image options, from its config.json.
    status, printed, last = run_command(
        evaluate, f'--checkpoint={run_dir}', '--num=20',
        f'--copies={tmp_path / "copies.png"}', f'--json={tmp_path / "result.json"}')
    assert status == 0, last
    assert f'20 samples from --checkpoint={run_dir} against the whole folder of ' \
           f'{folder} (60 images)' in printed
    assert 'right on a held-out tenth of the folder (6 images)' in printed
    result = json.loads((tmp_path / 'result.json').read_text())
    assert len(result['class_shares']) == 3 and 'memorised' in result
    assert Image.open(tmp_path / 'copies.png').size[1] < Image.open(
        tmp_path / 'copies.png').size[0]  # two rows: samples above their originals


@pytest.mark.slow
def test_the_emoji_folder_judge_tells_rotations_apart(tmp_path):
    """The whole real emoji folder at 32 px, with the judge's default training."""
    folder = image_folders.EMOJI
    image_folders.emoji_files(1)  # skips without the folder
    evaluator = judge.Evaluator(folder, str(tmp_path), image_options={'image_size': 32})
    assert evaluator.info['held_out'] == 142
    # Many emoji look alike turned (flags, circles, symbols): measured 0.599; 0.25 by chance.
    assert evaluator.info['test_accuracy'] > 0.5
    copies = images_of(folder, str(tmp_path), image_size=32)
    assert evaluator.memorised_share(copies[:500]) > 0.99
