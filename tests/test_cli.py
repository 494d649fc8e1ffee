"""The command line on real MNIST: artifacts, resume, export, errors."""
import csv
import json

import numpy as np
from PIL import Image

from conftest import FLAGS, STEPS, error_of


def test_run_leaves_every_artifact(short_run):
    run_dir, _ = short_run
    config = json.loads((run_dir / 'config.json').read_text())
    assert config['config']['batch_size'] == 32 and config['config']['arch'] == 'mlp'
    assert config['data_source'] == 'prepared'
    assert config['image_shape'] == [28, 28, 1]
    assert {'tensorflow', 'keras', 'tensorflow_datasets', 'numpy'} <= set(config['versions'])

    for name in ('real.png', 'curves.png'):
        assert Image.open(run_dir / name).format == 'PNG'
    steps = sorted(p.name for p in (run_dir / 'samples').iterdir())
    assert steps == ['step_000000.png', 'step_000020.png', 'step_000040.png']
    gif = Image.open(run_dir / 'progress.gif')
    assert gif.format == 'GIF' and gif.n_frames == 3
    grid = np.asarray(Image.open(run_dir / 'samples' / 'step_000040.png'))
    assert grid.std() > 10  # an image, not a blank

    with open(run_dir / 'metrics.csv') as f:
        rows = list(csv.DictReader(f))
    assert [int(r['step']) for r in rows] == [10, 20, 30, 40]
    for key in ('d_loss', 'g_loss', 'D_x', 'D_G_z', 'acc_real', 'acc_fake'):
        assert all(np.isfinite(float(r[key])) for r in rows), key
    assert all(float(r['images_per_second']) > 0 for r in rows)

    assert (run_dir / 'checkpoints' / 'ckpt-40.index').exists()

    with open(run_dir / 'evaluation.csv') as f:
        rows = list(csv.DictReader(f))
    assert [int(r['step']) for r in rows] == [20, 40]
    assert all(0 <= float(r['coverage']) <= 1 and float(r['fid']) > 0 for r in rows)
    assert (run_dir / 'health.jsonl').exists()  # empty when the monitor saw nothing
    report = (run_dir / 'report.html').read_text()
    assert 'Health monitor' in report and 'data:image/png;base64,' in report


def test_tensorboard_has_scalars_and_sample_images(short_run):
    run_dir, _ = short_run
    import tensorflow as tf
    tags = set()
    for event_file in (run_dir / 'tensorboard').iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            tags.update(v.tag for v in event.summary.value)
    assert {'d_loss', 'g_loss', 'D_x', 'D_G_z', 'acc_real', 'acc_fake', 'samples'} <= tags


def test_resume_continues_the_step_count(short_run_copy, capsys):
    run_dir, common = short_run_copy
    assert error_of([*FLAGS, '--max_steps=60', *common, '--resume']) is None
    out = capsys.readouterr().out
    assert f'--resume: continuing from {run_dir}/checkpoints/ckpt-40 (step 40)' in out
    assert 'step 60/60 [' in out and 'step 60 of 60' in out  # progress: this run's total
    config = json.loads((run_dir / 'config.json').read_text())
    assert config['started_at_step'] == STEPS
    with open(run_dir / 'metrics.csv') as f:
        assert [int(r['step']) for r in csv.DictReader(f)] == [10, 20, 30, 40, 50, 60]
    assert (run_dir / 'checkpoints' / 'ckpt-60.index').exists()
    assert (run_dir / 'samples' / 'step_000060.png').exists()


def test_max_seconds_stops_cleanly_with_checkpoint_and_export(mnist_data_dir, tmp_path,
                                                              capsys):
    assert error_of([*FLAGS, '--max_steps=100000', f'--data_dir={mnist_data_dir}',
                     f'--out_dir={tmp_path}', '--run_name=timed', '--max_seconds=2']) is None
    assert 'stopped by --max_seconds' in capsys.readouterr().out
    run_dir = tmp_path / 'timed'
    assert list((run_dir / 'checkpoints').glob('ckpt-*.index'))
    assert (run_dir / 'export' / 'saved_model.pb').exists()
    assert (run_dir / 'progress.gif').exists()


def test_divergence_stops_cleanly_and_saves_nothing_non_finite(mnist_data_dir, tmp_path):
    """In this process, as `gan_tf.main` runs (the one-line error and exit status 1
    of a UserError are checked end to end in test_bad_input.py)."""
    import tensorflow as tf
    common = ['--dataset=mnist', f'--data_dir={mnist_data_dir}', f'--out_dir={tmp_path}',
              '--run_name=diverged', '--batch_size=32', '--max_steps=50', '--eval_every=0',
              '--nohealth_classes']
    # Adam's steps are about the learning rate in size: 1e5 blows up in a few steps.
    error = error_of([*common, '--lr_d=1e5', '--lr_g=1e5', '--checkpoint_every=1'])
    assert error and error.startswith('error: training diverged at step '), error
    run_dir = tmp_path / 'diverged'
    assert not (run_dir / 'export').exists()
    checkpoints = sorted((run_dir / 'checkpoints').glob('ckpt-*.index'))
    assert checkpoints and f'last good checkpoint: {str(checkpoints[-1])[:-6]};' in error
    for index in checkpoints:
        reader = tf.train.load_checkpoint(str(index)[:-len('.index')])
        for name, dtype in reader.get_variable_to_dtype_map().items():
            if dtype.is_floating:
                assert np.isfinite(reader.get_tensor(name)).all(), (index, name)
    # Resuming from it diverges again here (one step at 1e5 already ruined the
    # weights): it fails as cleanly, and never writes a non-finite checkpoint.
    error = error_of([*common, '--resume', '--max_steps=8', '--allow_config_change'])
    assert error and 'training diverged' in error, error
    assert sorted((run_dir / 'checkpoints').glob('ckpt-*.index')) == checkpoints


def test_the_export_holds_the_generator_of_the_best_scoring(short_run):
    """Scored at steps 20 and 40 (evaluation.csv), the run's export holds the
    generator of the lower FID: the same images as that step's checkpoint."""
    from gan_tf import sources
    run_dir, _ = short_run
    with open(run_dir / 'evaluation.csv') as f:
        rows = list(csv.DictReader(f))
    best = min(rows, key=lambda row: float(row['fid']))
    exported = json.loads((run_dir / 'config.json').read_text())['export']
    assert exported == {'step': int(best['step']), 'fid': round(float(best['fid']), 4)}
    checkpoint = sources.CheckpointedGenerator(
        str(run_dir / 'checkpoints' / f'ckpt-{best["step"]}')).sample(20, seed=2)[0]
    export = sources.ExportedGenerator(str(run_dir / 'export')).sample(20, seed=2)[0]
    np.testing.assert_allclose(export, checkpoint, atol=1e-5)
    assert (f'step {exported["step"]:,} (best FID, {exported["fid"]:.2f})' in
            (run_dir / 'report.html').read_text())


def test_without_export_best_the_export_holds_the_last_weights(short_run_copy):
    run_dir, common = short_run_copy
    assert error_of([*FLAGS, *common, '--resume', '--max_steps=60', '--eval_every=20',
                     '--eval_samples=500', '--noexport_best']) is None
    assert json.loads((run_dir / 'config.json').read_text())['export'] == {
        'step': 60, 'fid': None}
