"""The SavedModel contract, the export and sample tools, and the examples."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import REPO, run_command, run_example

BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope='module')
def export_dir(short_run, tmp_path_factory):
    """A copy of the short run's export, safe from the other tests."""
    copy = tmp_path_factory.mktemp('serving') / 'export'
    shutil.copytree(short_run[0] / 'export', copy)
    return copy


def run(*args, cwd=REPO, timeout=300):
    return subprocess.run([*args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def test_the_export_declares_both_signatures_as_saved_model_cli_shows_them(export_dir):
    """The SignatureDefs in saved_model.pb, which `saved_model_cli show --all`
    prints and TF Serving reads (the two tests below run saved_model_cli itself)."""
    from tensorflow.core.protobuf import saved_model_pb2
    saved = saved_model_pb2.SavedModel.FromString((export_dir / 'saved_model.pb').read_bytes())
    (graph,) = saved.meta_graphs
    assert list(graph.meta_info_def.tags) == ['serve']
    signatures = graph.signature_def

    def declared(tensors):
        return {name: (tf.dtypes.as_dtype(t.dtype).name,
                       [d.size for d in t.tensor_shape.dim]) for name, t in tensors.items()}

    assert {'serving_default', 'generate'} <= set(signatures)
    assert declared(signatures['serving_default'].inputs) == {'z': ('float32', [-1, 100])}
    assert declared(signatures['generate'].inputs) == {'num': ('int32', []),
                                                       'seed': ('int64', [])}
    # README's table: z gives [-1, 1] floats, generate gives pixels.
    assert declared(signatures['serving_default'].outputs) == {
        'images': ('float32', [-1, 28, 28, 1])}
    assert declared(signatures['generate'].outputs) == {'images': ('uint8', [-1, 28, 28, 1])}


def test_saved_model_cli_run_generates_images(export_dir, tmp_path):
    np.save(tmp_path / 'num.npy', np.int32(5))
    np.save(tmp_path / 'seed.npy', np.int64(7))
    result = run(os.path.join(BIN, 'saved_model_cli'), 'run', '--dir', str(export_dir),
                 '--tag_set', 'serve', '--signature_def', 'generate',
                 '--inputs', f'num={tmp_path}/num.npy;seed={tmp_path}/seed.npy',
                 '--outdir', str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    images = np.load(tmp_path / 'images.npy')
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.uint8
    assert images.max() > images.min()


# Slow: a TensorFlow process of its own; the default suite runs saved_model_cli on
# `generate` above and reads `serving_default`'s SignatureDef.
@pytest.mark.slow
def test_saved_model_cli_run_turns_a_z_file_into_images(export_dir, tmp_path):
    z = np.random.default_rng(0).standard_normal((3, 100)).astype(np.float32)
    np.save(tmp_path / 'z.npy', z)
    result = run(os.path.join(BIN, 'saved_model_cli'), 'run', '--dir', str(export_dir),
                 '--tag_set', 'serve', '--signature_def', 'serving_default',
                 '--inputs', f'z={tmp_path}/z.npy', '--outdir', str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    images = np.load(tmp_path / 'images.npy')
    assert images.shape == (3, 28, 28, 1) and images.dtype == np.float32
    serve = tf.saved_model.load(str(export_dir)).signatures['serving_default']
    np.testing.assert_allclose(images, serve(z=tf.constant(z))['images'].numpy(),
                               atol=1e-6)


def test_generate_is_deterministic_for_a_seed(export_dir):
    generate = tf.saved_model.load(str(export_dir)).signatures['generate']
    call = lambda seed: generate(num=tf.constant(6), seed=tf.constant(seed, tf.int64))[
        'images'].numpy()
    np.testing.assert_array_equal(call(1), call(1))
    assert not np.array_equal(call(1), call(2))


def test_generate_matches_serving_default_on_the_same_noise(export_dir):
    export = tf.saved_model.load(str(export_dir))
    uint8 = export.signatures['generate'](num=tf.constant(3), seed=tf.constant(5, tf.int64))[
        'images'].numpy()
    z = tf.random.stateless_normal([3, 100], seed=tf.constant([5, 0], tf.int64))
    floats = export.signatures['serving_default'](z=z)['images'].numpy()
    np.testing.assert_allclose(uint8, np.round((floats + 1) * 127.5), atol=1)


@pytest.mark.parametrize('z, error', [
    (tf.zeros([2, 99]), r'\[2,99\] is not compatible with expected shape \[\?,100\]'),
    (tf.zeros([100]), r'\[100\] is not compatible with expected shape \[\?,100\]'),
    (tf.zeros([2, 100], tf.float64), 'expected to be a float tensor but is a double'),
])
def test_a_malformed_request_gets_tensorflows_error(export_dir, z, error):
    serve = tf.saved_model.load(str(export_dir)).signatures['serving_default']
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError),
                       match=error):
        serve(z=z)


def test_export_records_the_config_and_data_source(export_dir):
    record = json.loads((export_dir / 'assets' / 'config.json').read_text())
    assert record['data_source'] == 'prepared' and record['config']['arch'] == 'mlp'


def test_export_tool_never_overwrites_without_asking(short_run, tmp_path):
    from gan_tf import export
    run_dir, _ = short_run
    target = tmp_path / 'export'
    status, out, err = run_command(export, f'--run_dir={run_dir}', f'--export_dir={target}')
    assert status == 0 and out.strip() == f'exported {target} (saved_model)', err
    stamp = (target / 'saved_model.pb').stat().st_mtime_ns
    status, _, err = run_command(export, f'--run_dir={run_dir}', f'--export_dir={target}')
    assert status == 1 and 'already exists: pass --overwrite' in err
    assert (target / 'saved_model.pb').stat().st_mtime_ns == stamp
    status, _, err = run_command(export, f'--run_dir={run_dir}', f'--export_dir={target}',
                             '--overwrite')
    assert status == 0, err
    assert not [p for p in os.listdir(tmp_path) if p.startswith('.export')]


def test_sample_tool_writes_grid_npy_and_walk(export_dir, tmp_path):
    from gan_tf import sample
    tool = [f'--export_dir={export_dir}']
    status, _, err = run_command(sample, *tool, '--num=16', f'--out={tmp_path}/grid.png',
                             f'--npy={tmp_path}/s.npy')
    assert status == 0, err
    samples = np.load(tmp_path / 's.npy')
    assert samples.shape == (16, 28, 28, 1) and -1 <= samples.min() < samples.max() <= 1
    assert Image.open(tmp_path / 'grid.png').size == (4 * 30 * 2 + 4,) * 2
    status, _, err = run_command(sample, *tool, '--num=16', f'--npy={tmp_path}/again.npy')
    assert status == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / 'again.npy'), samples)
    # --seed=0 (the default) draws the same z as the `generate` signature's seed 0.
    generated = tf.saved_model.load(str(export_dir)).signatures['generate'](
        num=tf.constant(16), seed=tf.constant(0, tf.int64))['images'].numpy()
    np.testing.assert_allclose(generated, np.round((samples + 1) * 127.5), atol=1)

    status, _, err = run_command(sample, *tool, '--num=4', '--interpolate',
                             f'--out={tmp_path}/walk.gif')
    assert status == 0, err
    gif = Image.open(tmp_path / 'walk.gif')
    assert gif.n_frames == 48
    first, middle = np.asarray(gif.convert('L')), None
    gif.seek(6)
    middle = np.asarray(gif.convert('L'))
    assert not np.array_equal(first, middle)


def test_sample_tool_rejects_a_folder_that_is_no_export(tmp_path):
    from gan_tf import sample
    status, _, err = run_command(sample, f'--export_dir={tmp_path}')
    assert status == 1 and err.startswith('error: ') and 'is not a gan_tf export' in err


def test_export_and_serve_example(export_dir, tmp_path, monkeypatch, capsys):
    status, out = run_example('export_and_serve.py', export_dir, cwd=tmp_path,
                              monkeypatch=monkeypatch, capsys=capsys)
    assert status == 0 and 'generate: (16, 28, 28, 1) uint8' in out, out
    assert Image.open(tmp_path / 'served.png').size == (16 * 28, 28)


def test_custom_models_example_trains_under_its_own_arch_name(mnist_data_dir, tmp_path,
                                                             monkeypatch, capsys):
    status, out = run_example('custom_models.py', '--arch=tiny', f'--data_dir={mnist_data_dir}',
                              f'--out_dir={tmp_path}', '--max_steps=10', '--batch_size=16',
                              '--eval_every=0', '--nohealth_classes', cwd=tmp_path,
                              monkeypatch=monkeypatch, capsys=capsys)
    assert status == 0, out[-2000:]
    run_dir = tmp_path / 'mnist-tiny-non_saturating'
    assert (run_dir / 'export' / 'saved_model.pb').exists()
    assert json.loads((run_dir / 'config.json').read_text())['config']['arch'] == 'tiny'
