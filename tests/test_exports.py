"""LiteRT and ONNX exports give the SavedModel's images for every architecture;
the export command and its flag; the one-line error for a missing extra; TF
Serving's REST predict contract over the exported signatures."""
import dataclasses
import importlib.util
import json
import os
import urllib.error
import urllib.request

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_serving_double
from gan_tf import (Config, artifacts, cli, export, exports, main, models, registry, runs,
                    speed)
from gan_tf.errors import UserError
from gan_tf.exports.servable import Servable

ALL = tuple(registry.EXPORT_FORMATS)  # 'saved_model' first
CONVERTED = ALL[1:]
# float16 weights against the SavedModel, in dB of PSNR on uint8 images: below
# what every architecture gives (README.md, "Deploy"), SAGAN the lowest, its
# attention amplifying rounding.
FLOAT16_PSNR_FLOOR = 50.0

# name: (architecture, image shape, classes, generator widths); small widths keep
# conversion quick, every kind of layer is still there.
CASES = {
    'mlp': ('mlp', (28, 28, 1), 0, (64, 128, 256)),
    'maxout': ('maxout', (28, 28, 1), 0, (240, 240)),
    'dcgan': ('dcgan', (32, 32, 3), 0, None),
    'sagan': ('sagan', (28, 28, 1), 0, None),
    'conditional_dcgan': ('dcgan', (28, 28, 1), 10, None),
}


@pytest.fixture(scope='module')
def converters():
    """Skips (a safety net: the test extra installs them) without the extras."""
    for export_format in registry.EXPORT_FORMATS.values():
        for module in export_format.modules:
            pytest.importorskip(module)


def perturb(model, seed=0):
    """Weights of the scale training gives: an untrained DCGAN or SAGAN draws
    nearly constant images (N(0, 0.02) kernels; attention's gamma starts at 0),
    on which any conversion looks exact."""
    rng = np.random.default_rng(seed)
    for variable in model.variables:
        shape, path = tuple(variable.shape), variable.path
        if 'moving_variance' in path:
            value = rng.uniform(0.5, 2.0, shape)
        elif 'moving_mean' in path or 'beta' in path or 'bias' in path:
            value = rng.normal(0, 0.1, shape)
        elif not shape:  # SelfAttention's gamma
            value = np.full(shape, 0.7)
        elif 'gamma' in path:
            value = rng.uniform(0.5, 1.5, shape)
        else:  # a kernel: of unit gain, so activations neither vanish nor explode
            fan_in = np.prod(shape[:-1])
            if len(shape) == 4:  # as a stride-2 Conv2DTranspose's [k, k, out, in]
                fan_in = np.prod(shape[:2]) * shape[3] / 4
            value = rng.normal(0, 1 / np.sqrt(max(fan_in, 1)), shape)
        variable.assign(value.astype(variable.dtype))


def tiny_servable(arch, image_shape, num_classes, widths):
    """The `Servable` of an untrained generator, built and perturbed."""
    keras.utils.set_random_seed(1)
    generator, _ = models.build(arch, image_shape, widths, num_classes=num_classes)
    if num_classes:
        generator(tf.zeros([1, 100]), tf.zeros([1], tf.int32))
    else:
        generator(tf.zeros([1, 100]))
    perturb(generator)
    return Servable(generator, 100, image_shape, num_classes=num_classes)


@pytest.fixture(scope='module')
def export_of(tmp_path_factory):
    """export_of(case) -> (servable, export folder): a perturbed untrained
    generator of CASES[case], written once in every format installed."""
    made = {}
    installed = tuple(name for name in ALL
                      if not registry.export_format(name).missing_extra())

    def make(case):
        if case not in made:
            servable = tiny_servable(*CASES[case])
            folder = tmp_path_factory.mktemp(case) / 'export'
            made[case] = servable, exports.write(servable, folder, installed)
        return made[case]
    return make


def runner(export_dir, name):
    export_format = registry.export_format(name)
    return registry.load(export_format.load)(os.path.join(export_dir, export_format.path))


def to_uint8(images):
    return np.round(np.clip(images, -1, 1) * 127.5 + 127.5).astype(np.uint8)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return np.inf if mse == 0 else 10 * np.log10(255 ** 2 / mse)


# maxout and sagan in the slow suite: 20 to 40 s each, for paths mlp and dcgan share.
@pytest.mark.parametrize('case', [pytest.param(case, marks=pytest.mark.slow)
                                  if case in ('maxout', 'sagan') else case
                                  for case in CASES])
def test_converted_formats_give_the_saved_models_images(case, converters, export_of):
    servable, export_dir = export_of(case)
    runners = {name: runner(export_dir, name) for name in ALL}
    for batch in (16, 1):  # the batch is dynamic: a second size after the first
        z, labels = servable.example_inputs(batch, seed=batch)
        expected = runners['saved_model'](z, labels)
        assert expected.std() > 0.05  # images, not a constant the weights gave
        for name in CONVERTED:
            images = runners[name](z, labels)
            assert images.shape == expected.shape and np.all(np.isfinite(images)), name
            if name.endswith('_fp16'):
                assert psnr(to_uint8(images), to_uint8(expected)) > FLOAT16_PSNR_FLOOR
            else:
                np.testing.assert_allclose(images, expected, rtol=0, atol=1e-4,
                                           err_msg=name)
                levels = np.abs(to_uint8(images).astype(int) - to_uint8(expected))
                assert levels.max() <= 1, name


@pytest.mark.parametrize('case', ['dcgan', 'conditional_dcgan'])
def test_each_format_has_its_file_and_a_readme_whose_snippet_runs(
        case, converters, export_of, monkeypatch):
    servable, export_dir = export_of(case)
    sizes = {name: os.path.getsize(os.path.join(export_dir, registry.export_format(
        name).path)) for name in CONVERTED}
    assert sizes['litert_fp16'] < 0.6 * sizes['litert']
    for folder in ('', 'litert', 'onnx'):
        readme = open(os.path.join(export_dir, folder, 'README.md')).read()
        assert '`z`' in readme and '`images`' in readme and '[-1, 1]' in readme
        assert ('`labels`' in readme) == bool(servable.num_classes)
        snippet = readme.split('```python\n')[1].split('```')[0]
        monkeypatch.chdir(os.path.join(export_dir, folder))
        scope = {}
        exec(snippet, scope)
        assert scope['pixels'].shape == (16, *servable.image_shape)
        assert scope['pixels'].dtype == np.uint8


def test_a_mixed_precision_generator_is_converted_in_float32(converters, tmp_path):
    config = Config(arch='mlp', g_widths=(64, 128), d_widths=(64,),
                    mixed_precision=True)
    gan = runs.build_gan(config, (28, 28, 1), policy='mixed_bfloat16')
    perturb(gan.generator)
    servable = exports.servable_of(gan, config, (28, 28, 1))
    assert servable.generator.compute_dtype == 'bfloat16'
    assert servable.converted.compute_dtype == 'float32'
    export_dir = exports.write(servable, tmp_path / 'export', ALL)
    z, _ = servable.example_inputs(8)
    float32 = servable.converted(z, training=False).numpy()
    for name in ('litert', 'onnx'):
        np.testing.assert_allclose(runner(export_dir, name)(z), float32, atol=1e-4)
    # The SavedModel computes in bfloat16, as trained: close, not equal.
    np.testing.assert_allclose(runner(export_dir, 'saved_model')(z), float32, atol=0.1)


class NeedsTensorFlowOps(keras.Model):
    def call(self, z, training=False):
        noise = tf.random.stateless_normal([tf.shape(z)[0], 4, 4, 1], seed=[1, 2])
        return tf.tanh(tf.reshape(z[:, :16], [-1, 4, 4, 1]) + noise)


def test_a_conditional_export_takes_class_names_as_its_labels(tmp_path):
    """`generate_by_name` gives `generate`'s images of the same classes, and
    refuses a name it does not know, saying which it knows."""
    servable = tiny_servable('dcgan', (32, 32, 3), 3, (16, 8))
    names = ('cats', 'dogs', 'ünïcode birds')
    folder = exports.write(dataclasses.replace(servable, class_names=names),
                           tmp_path / 'export')
    signatures = tf.saved_model.load(folder).signatures
    by_name = signatures['generate_by_name'](
        num=tf.constant(4), seed=tf.constant(5, tf.int64),
        class_names=tf.constant(['dogs', 'ünïcode birds', 'cats', 'dogs']))['images']
    by_label = signatures['generate'](num=tf.constant(4), seed=tf.constant(5, tf.int64),
                                      labels=tf.constant([1, 2, 0, 1]))['images']
    assert by_name.dtype == tf.uint8 and by_name.shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(by_name.numpy(), by_label.numpy())
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match='unknown class name; give one of cats, dogs'):
        signatures['generate_by_name'](num=tf.constant(1), seed=tf.constant(5, tf.int64),
                                       class_names=tf.constant(['horses']))
    readme = open(os.path.join(folder, 'README.md')).read()
    assert '`generate_by_name`' in readme and 'cats, dogs, ünïcode birds' in readme
    unnamed = exports.write(servable, tmp_path / 'unnamed')
    assert 'generate_by_name' not in tf.saved_model.load(unnamed).signatures


def test_a_generator_needing_tensorflow_ops_fails_at_export_keeping_the_old_one(
        converters, tmp_path):
    target = tmp_path / 'export'
    target.mkdir()
    (target / 'saved_model.pb').write_text('a good export')
    generator = NeedsTensorFlowOps()
    generator(tf.zeros([1, 16]))
    with pytest.raises(UserError, match=r'cannot be converted to LiteRT with builtin '
                       r'ops: it needs TensorFlow ops StatelessRandom'):
        exports.write(Servable(generator, 16, (4, 4, 1)), target, ('litert',))
    assert (target / 'saved_model.pb').read_text() == 'a good export'
    assert os.listdir(tmp_path) == ['export']  # no staging folder left


@pytest.fixture
def tiny_run(tmp_path):
    """A run directory as training leaves it (config.json, a checkpoint), of a
    small untrained class-conditional GAN with perturbed weights."""
    config = Config(arch='mlp', g_widths=(64, 128), d_widths=(64,), conditional=True,
                    out_dir=str(tmp_path), run_name='tiny')
    gan = runs.build_gan(config, (28, 28, 1), num_classes=10)
    perturb(gan.generator)
    run_dir = tmp_path / 'tiny'
    artifacts.write_file(str(run_dir / runs.RECORD), artifacts.record_text(
        config, image_shape=(28, 28, 1), num_classes=10))
    tf.train.CheckpointManager(runs.make_checkpoint(gan), str(run_dir / runs.CHECKPOINTS),
                               max_to_keep=1).save()
    return run_dir


def test_the_export_command_converts_an_existing_run(tiny_run, converters, tmp_path,
                                                      capsys):
    target = tmp_path / 'export'
    cli.main(export.COMMAND, ['export', f'--run_dir={tiny_run}', f'--export_dir={target}',
                              '--export_formats=onnx,litert'])
    assert capsys.readouterr().out.strip() == (
        f'exported {target} (saved_model, onnx, litert)')
    assert sorted(os.listdir(target)) == ['README.md', 'assets', 'fingerprint.pb',
                                          'litert', 'onnx', 'saved_model.pb', 'variables']
    assert sorted(os.listdir(target / 'litert')) == ['README.md', 'generator.tflite']
    assert json.loads((target / 'assets' / 'config.json').read_text())['num_classes'] == 10
    z = np.random.default_rng(0).standard_normal((8, 100)).astype(np.float32)
    labels = np.arange(8, dtype=np.int32)
    expected = runner(target, 'saved_model')(z, labels)
    for name in ('litert', 'onnx'):
        np.testing.assert_allclose(runner(target, name)(z, labels), expected, atol=1e-4)


def test_a_missing_extra_is_one_line_before_tensorflow_starts(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *args: (
        None if name == 'onnxruntime' else find_spec(name, *args)))
    line = "--export_formats=onnx needs the onnx extra: pip install 'gan_tf[onnx]'"
    for command, argv in ((main.COMMAND, ['--export_formats=litert,onnx']),
                          (export.COMMAND, ['--run_dir=out/x', '--export_formats=onnx'])):
        with pytest.raises(UserError) as error:
            cli.parse(command, ['gan_tf', *argv])
        assert str(error.value) == line
    # Without --export, nothing is converted, and nothing is needed.
    assert cli.parse(main.COMMAND, ['gan_tf', '--export_formats=onnx', '--noexport'])
    with pytest.raises(UserError, match=r"^--export_formats=tflite: 'tflite' is "
                       'unknown; choose from saved_model, litert, litert_fp16, onnx$'):
        cli.parse(main.COMMAND, ['gan_tf', '--export_formats=tflite'])


def test_export_formats_keep_the_saved_model_first():
    assert Config().export_formats == ('saved_model',)
    assert Config(export_formats=['onnx', 'litert', 'onnx']).export_formats == (
        'saved_model', 'onnx', 'litert')
    assert registry.EXPORT_FORMATS['saved_model'].path == ''


def test_the_deploy_bench_times_each_format_and_weighs_it(converters):
    config = Config(g_widths=(32, 64), batch_size=4)
    results = speed.deploy_benchmark(config, (28, 28, 1), CONVERTED, repeats=1)
    assert list(results) == list(ALL)
    sizes = {name: megabytes for name, (megabytes, _) in results.items()}
    # float32 parameters: (100 + 1) * 32 + (32 + 1) * 64 + (64 + 1) * 784
    assert sizes['litert'] == pytest.approx(4 * 56_304 / 1e6, rel=0.2)
    assert sizes['litert_fp16'] < 0.6 * sizes['litert']
    assert sizes['saved_model'] > sizes['litert']  # without the converted folders
    assert all(ms > 0 for _, ms in results.values())


# --- TF Serving's REST predict contract --------------------------------------------

@pytest.fixture(scope='module')
def served(export_of):
    """served(case) -> (servable, its SavedModel's signatures, predict URL): the
    export of `case` behind the TF Serving double, as model 'gan' version 1."""
    running, servers = {}, []

    def serve(case):
        if case not in running:
            servable, export_dir = export_of(case)
            server, url = tf_serving_double.serve(export_dir, 'gan')
            servers.append(server)
            running[case] = (servable, tf.saved_model.load(export_dir).signatures,
                             f'{url}/v1/models/gan:predict')
        return running[case]
    yield serve
    for server in servers:
        server.shutdown()


def post(url, body):
    """(HTTP status, JSON answer) of a POST of `body`."""
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def direct(signatures, name, **inputs):
    return signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})[
        'images'].numpy()


@pytest.mark.parametrize('case', ['mlp', 'conditional_dcgan'])
def test_rest_predict_in_rows_and_columns(case, served):
    servable, signatures, url = served(case)
    z, labels = servable.example_inputs(3)
    inputs = {'z': z} if labels is None else {'z': z, 'labels': labels}
    expected = direct(signatures, 'serving_default', **inputs)
    if labels is None:
        rows = z.tolist()  # one input: each instance is its value
    else:
        rows = [{'z': row, 'labels': int(label)} for row, label in zip(z.tolist(), labels)]
    status, answer = post(url, {'signature_name': 'serving_default', 'instances': rows})
    assert status == 200 and list(answer) == ['predictions']
    images = np.array(answer['predictions'], np.float32)
    assert images.shape == (3, *servable.image_shape)
    np.testing.assert_array_equal(images, expected)  # floats survive JSON

    columns = {name: value.tolist() for name, value in inputs.items()}
    status, answer = post(url, {'inputs': columns})  # serving_default by default
    assert status == 200 and list(answer) == ['outputs']  # one output: unnamed
    np.testing.assert_array_equal(np.array(answer['outputs'], np.float32), expected)

    # generate takes scalars, which only the columnar form can give.
    generate = {'num': 4, 'seed': 7}
    if labels is not None:
        generate['labels'] = [0, 1, 2, 9]
    status, answer = post(url, {'signature_name': 'generate', 'inputs': generate})
    assert status == 200
    pixels = np.array(answer['outputs'])
    assert pixels.shape == (4, *servable.image_shape) and pixels.dtype == np.int64
    assert 0 <= pixels.min() and pixels.max() <= 255
    np.testing.assert_array_equal(pixels, direct(signatures, 'generate', **{
        **generate, 'seed': np.int64(7)}))
    status, answer = post(url, {'signature_name': 'generate', 'instances': [generate]})
    assert status == 400 and 'error' in answer


@pytest.mark.parametrize('body, error', [
    ('{"instances": [', 'JSON Parse error'),
    ({'inputs': {}, 'instances': []}, "exactly one of 'inputs' or 'instances'"),
    ({'instances': [[0.0] * 100]}, 'instances is a plain list'),
    ({'instances': [{'z': [0.0] * 100}]}, 'keys must be equal to: labels,z'),
    ({'inputs': {'z': [[0.0] * 100], 'labels': [10]}}, 'labels must be < 10'),
    ({'inputs': {'z': [[0.0] * 100, [0.0] * 100], 'labels': [1]}},
     'give one label per image'),
    ({'inputs': {'z': [[0.0] * 99], 'labels': [1]}}, 'z: shape [1, 99] does not fit'),
    ({'signature_name': 'generate', 'inputs': {'num': 2.0, 'seed': 7, 'labels': [1, 2]}},
     'is not of expected type: int32'),
    ({'signature_name': 'sample', 'inputs': {}}, '"sample" not found'),
])
def test_rest_bad_requests_get_400_and_an_error(served, body, error):
    status, answer = post(served('conditional_dcgan')[2], body)
    assert status == 400 and list(answer) == ['error'] and error in answer['error']


def test_rest_unknown_model_or_version_is_404(served):
    url = served('mlp')[2]
    for wrong in ('/other:', '/gan/versions/2:'):
        status, answer = post(url.replace('/gan:', wrong), {'inputs': [[0.0] * 100]})
        assert status == 404 and 'error' in answer
    status, _ = post(url.replace('/gan:', '/gan/versions/1:'), {'inputs': [[0.0] * 100]})
    assert status == 200
