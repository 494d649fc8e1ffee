"""Class-conditional generation (--conditional) and the ACGAN loss, on real MNIST."""
import csv
import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import error_of, run_command
from gan_tf import Config, judge, models, registry, runs, sources, train
from gan_tf import data as gan_data
from gan_tf.gan import GAN
from gan_tf.models.conditional import ConditionalDiscriminator

SHORT = ['--dataset=mnist', '--conditional', '--batch_size=16', '--max_steps=4',
         '--log_every=2', '--sample_every=2', '--checkpoint_every=2', '--eval_every=0',
         '--nohealth_classes', '--seed=0']


def compiled(arch='mlp', loss='non_saturating', **kwargs):
    generator, discriminator = models.build(
        arch, (28, 28, 1), num_classes=10,
        auxiliary_classifier=loss == 'acgan')
    gan = GAN(generator, discriminator, seed=0, **kwargs)
    gan.compile(keras.optimizers.Adam(2e-4, 0.5), keras.optimizers.Adam(2e-4, 0.5), loss=loss)
    return gan


def test_projection_logit_is_the_base_logit_plus_the_label_embedding_inner_product():
    gan = compiled()
    images = tf.random.uniform((4, 28, 28, 1), -1, 1, seed=1)
    labels = tf.constant([0, 3, 3, 9])
    d = gan.discriminator
    features = d.base.features(images).numpy()
    base_logit = d.base.to_logit(features).numpy()[:, 0]
    embeddings = d.class_scores.kernel.numpy().T  # row y: W_y
    expected = base_logit + np.sum(embeddings[labels.numpy()] * features, axis=1)
    np.testing.assert_allclose(d(images, labels).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_the_generator_follows_its_labels_and_cycles_through_the_classes_by_default():
    gan = compiled()
    z = tf.random.normal((12, 100), seed=2)
    threes = gan(z, tf.fill([12], 3)).numpy()
    fours = gan(z, tf.fill([12], 4)).numpy()
    assert np.abs(threes - fours).mean() > 1e-3
    np.testing.assert_array_equal(gan(z).numpy(), gan(z, tf.range(12) % 10).numpy())


def test_acgan_discriminator_gives_a_label_blind_logit_and_class_logits():
    gan = compiled(loss='acgan')
    images = tf.random.uniform((3, 28, 28, 1), -1, 1, seed=1)
    logits, classes = gan.discriminator(images, tf.constant([0, 1, 2]))
    assert logits.shape == (3,) and classes.shape == (3, 10)
    same, _ = gan.discriminator(images, tf.constant([7, 7, 7]))
    np.testing.assert_array_equal(logits.numpy(), same.numpy())


def test_checkpoint_and_keras_file_keep_every_conditional_weight(tmp_path):
    gan = compiled('dcgan', ema_decay=0.9)
    gan.train_step((tf.random.uniform((8, 28, 28, 1), -1, 1, seed=1), tf.range(8)))
    weights = [*gan.generator.weights, *gan.discriminator.weights,
               *gan.ema_generator.weights]
    for embedding in (gan.generator.embed.kernel, gan.ema_generator.embed.kernel,
                      gan.discriminator.class_scores.kernel):
        assert any(w is embedding for w in weights)
    saved = [w.numpy().copy() for w in weights]
    prefix = runs.make_checkpoint(gan).save(str(tmp_path / 'ckpt'))
    for w in weights:
        w.assign(tf.zeros_like(w))
    runs.make_checkpoint(gan).restore(prefix).assert_existing_objects_matched()
    for before, w in zip(saved, weights):
        np.testing.assert_array_equal(before, w.numpy(), err_msg=w.path)

    gan.save(tmp_path / 'gan.keras')
    loaded = keras.saving.load_model(tmp_path / 'gan.keras')
    z, labels = tf.random.normal((4, 100), seed=3), tf.constant([5, 5, 6, 6])
    np.testing.assert_allclose(loaded(z, labels).numpy(), gan(z, labels).numpy(), atol=1e-6)


def test_acgan_needs_an_auxiliary_classifier_and_the_classifier_needs_acgan():
    with pytest.raises(ValueError, match='acgan loss needs a conditional discriminator'):
        compiled(loss='non_saturating').compile(
            keras.optimizers.Adam(), keras.optimizers.Adam(), loss='acgan')
    with pytest.raises(ValueError, match='auxiliary classifier needs the acgan loss'):
        compiled(loss='acgan').compile(
            keras.optimizers.Adam(), keras.optimizers.Adam(), loss='hinge')


def test_a_discriminator_without_features_cannot_be_conditioned():
    with pytest.raises(ValueError, match='needs a `features'):
        ConditionalDiscriminator(keras.Sequential([keras.layers.Dense(1)]), 10)


def test_labelled_batches_hold_the_unlabelled_stream_and_each_image_s_own_label(
        mnist_data_dir):
    data = gan_data.load('mnist', mnist_data_dir, download=False)
    plain = gan_data.train_batches(data, 64, seed=5, start_step=3)
    labelled = gan_data.train_batches(data, 64, seed=5, start_step=3, labels=True)
    examples = list(data.examples.batch(60_000))[0]
    label_of = {image.tobytes(): int(label) for image, label in
                zip(examples['image'].numpy(), examples['label'].numpy())}
    for images, (same_images, labels) in zip(plain.take(3), labelled.take(3)):
        np.testing.assert_array_equal(images.numpy(), same_images.numpy())
        assert labels.dtype == tf.int32
        raw = np.rint((same_images.numpy() + 1) * 127.5).astype(np.uint8)
        assert [label_of[image.tobytes()] for image in raw] == labels.numpy().tolist()


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope='module')
def conditional_run(mnist_data_dir, tmp_path_factory):
    """arch -> the directory of a short conditional command-line run, run once."""
    out, runs = tmp_path_factory.mktemp('conditional'), {}

    def run(arch):
        if arch not in runs:
            assert error_of([*SHORT, f'--arch={arch}', f'--data_dir={mnist_data_dir}',
                             f'--out_dir={out}', f'--run_name={arch}']) is None
            runs[arch] = out / arch
        return runs[arch]
    return run


# Every architecture through the command line; mlp in the default suite.
@pytest.mark.parametrize('arch', ['mlp', pytest.param('sagan', marks=pytest.mark.slow),
                                  pytest.param('maxout', marks=pytest.mark.slow),
                                  pytest.param('dcgan', marks=pytest.mark.slow)])
def test_conditional_run_leaves_every_artifact_and_an_export_that_takes_labels(
        arch, conditional_run, tmp_path):
    run_dir = conditional_run(arch)
    metrics = rows(run_dir / 'metrics.csv')
    assert [int(r['step']) for r in metrics] == [2, 4]
    assert all(np.isfinite(float(v)) for r in metrics for v in r.values())
    for name in ('real.png', 'curves.png', 'progress.gif', 'report.html', 'health.jsonl',
                 'checkpoints/ckpt-4.index'):
        assert (run_dir / name).exists(), name
    # One row per class, one column per fixed z: 10 x 8 tiles of 30 px, doubled.
    grid = Image.open(run_dir / 'samples' / 'step_000004.png')
    assert grid.size == ((8 * 30 + 2) * 2, (10 * 30 + 2) * 2)
    record = json.loads((run_dir / 'export' / 'assets' / 'config.json').read_text())
    assert record['config']['conditional'] and record['num_classes'] == 10

    # Loaded as a server loads it: the SavedModel's own functions, no gan_tf code
    # (saved_model_cli loads an export in a process of its own: test_serving.py).
    export = tf.saved_model.load(str(run_dir / 'export'))
    serve, generate = export.signatures['serving_default'], export.signatures['generate']
    assert sorted(serve.structured_input_signature[1]) == ['labels', 'z']
    z = tf.random.stateless_normal([2, 100], [1, 2])
    images = [serve(z=z, labels=tf.constant([k, k]))['images'].numpy() for k in (0, 1)]
    drawn = generate(num=tf.constant(3), seed=tf.constant(4, tf.int64),
                     labels=tf.constant([9, 9, 9]))['images']
    assert images[0].shape == (2, 28, 28, 1) and drawn.shape == (3, 28, 28, 1)
    assert drawn.dtype == tf.uint8 and np.isfinite(images[0]).all()
    assert np.mean(np.abs(images[0] - images[1])) > 1e-4  # the label changes the image
    with pytest.raises(tf.errors.InvalidArgumentError, match='labels must be < 10'):
        serve(z=z, labels=tf.constant([0, 10]))


def test_acgan_trains_a_short_run(mnist_data_dir, tmp_path):
    config = Config(loss='acgan', conditional=True, dataset='mnist',
                    data_dir=mnist_data_dir, out_dir=str(tmp_path), batch_size=16,
                    max_steps=4, log_every=2, sample_every=2, checkpoint_every=2,
                    eval_every=0, health_classes=False, seed=0)
    run_dir = train.train_and_evaluate(config)
    metrics = rows(f'{run_dir}/metrics.csv')
    assert [int(r['step']) for r in metrics] == [2, 4]
    assert all(np.isfinite(float(v)) for r in metrics for v in r.values())
    assert (tmp_path / config.run_dir_name / 'export' / 'saved_model.pb').exists()


def sample_tool(*args):
    from gan_tf import sample
    return run_command(sample, *args)


def test_sample_tool_draws_the_requested_classes_and_refuses_others(conditional_run,
                                                                    tmp_path):
    conditional_export = str(conditional_run('mlp') / 'export')
    status, _, err = sample_tool(f'--export_dir={conditional_export}', '--labels=0,3',
                                 '--num=8', f'--out={tmp_path}/grid.png',
                                 f'--npy={tmp_path}/s.npy')
    assert status == 0, err
    samples = np.load(tmp_path / 's.npy')
    # Four of class 0, then four of class 3: the same as the signature gives them.
    served = tf.saved_model.load(conditional_export).signatures['generate'](
        num=tf.constant(8), seed=tf.constant(0, tf.int64),
        labels=tf.constant([0, 0, 0, 0, 3, 3, 3, 3]))['images'].numpy()
    np.testing.assert_allclose(served, np.round((samples + 1) * 127.5), atol=1)
    assert Image.open(tmp_path / 'grid.png').size == ((4 * 30 + 2) * 2, (2 * 30 + 2) * 2)

    status, _, err = sample_tool(f'--export_dir={conditional_export}', '--labels=3,10')
    assert status == 1
    assert err == 'error: --labels=10: out of range; this export has classes 0 to 9'


def test_sample_tool_refuses_labels_for_an_unconditional_export(short_run):
    status, _, err = sample_tool(f'--export_dir={short_run[0] / "export"}', '--labels=3')
    assert status == 1 and 'this export is not class-conditional' in err


def test_conditional_on_a_dataset_without_labels_is_one_clear_line(mnist_data_dir,
                                                                   tmp_path, monkeypatch):
    load = gan_data.load
    # Real MNIST images with their labels withheld, as an unlabelled dataset has them.
    monkeypatch.setattr(gan_data, 'load', lambda *a, **k: dataclasses.replace(
        load(*a, **k), num_classes=0))
    error = error_of([f'--out_dir={tmp_path}', f'--data_dir={mnist_data_dir}',
                      '--conditional'])
    assert error == ('error: --conditional: mnist has no class labels; train without '
                     '--conditional, or choose a labelled dataset')
    assert not (tmp_path / 'mnist-mlp-non_saturating').exists()


def test_acgan_without_conditional_is_one_clear_line(tmp_path):
    assert error_of([f'--out_dir={tmp_path}', '--loss=acgan']) == (
        'error: --loss=acgan needs class labels: add --conditional')


def test_conditional_with_an_architecture_without_features_is_one_clear_line(
        mnist_data_dir, tmp_path):
    class Plain(keras.Model):  # a registered architecture of someone's own
        def __init__(self, image_shape, widths=None, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(1)

        def call(self, x, training=False):
            return self.dense(keras.ops.reshape(x, (keras.ops.shape(x)[0], -1)))[:, 0]

    registry.ARCHITECTURES['plain_for_test'] = registry.Architecture(Plain, Plain)
    try:
        error = error_of([f'--out_dir={tmp_path}', f'--data_dir={mnist_data_dir}',
                          '--arch=plain_for_test', '--conditional'])
    finally:
        del registry.ARCHITECTURES['plain_for_test']
    assert error == ('error: Plain cannot be made conditional: it needs a '
                     '`features(images, training)` method and a `to_logit` layer (see '
                     'gan_tf.models.conditional); train it without --conditional')


@pytest.mark.parametrize('source', ['export_dir',
                                    pytest.param('checkpoint', marks=pytest.mark.slow)])
def test_evaluate_scores_the_requested_classes_of_a_conditional_run(
        source, conditional_run, mnist_data_dir, tmp_path):
    run_dir = conditional_run('mlp')
    path = run_dir / 'export' if source == 'export_dir' else run_dir
    from gan_tf import evaluate
    status, out, err = run_command(evaluate, f'--{source}={path}', '--num=200',
                                   '--dataset=mnist', f'--data_dir={mnist_data_dir}',
                                   f'--json={tmp_path}/r.json')
    assert status == 0, err
    assert 'label_accuracy' in out
    # The share of the 200 samples, image i asked for class i % 10, that the
    # judging classifier puts in the class asked for.
    images = tf.saved_model.load(str(run_dir / 'export')).signatures['serving_default'](
        z=sources.ExportedGenerator(str(run_dir / "export")).noise(200, 0),
        labels=tf.constant(np.arange(200) % 10, tf.int32))['images'].numpy()
    classifier, _ = judge.load_classifier('mnist', mnist_data_dir)
    expected = np.mean(classifier.predict(images, verbose=0).argmax(1) == np.arange(200) % 10)
    assert json.load(open(tmp_path / 'r.json'))['label_accuracy'] == pytest.approx(
        expected, abs=0.011)  # at most 2 of 200 borderline images may differ
