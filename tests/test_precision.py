"""--mixed_precision (bfloat16 on CPU, float16 with loss scaling on GPU) and --jit_compile."""
import json
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import run_command
from gan_tf import Config, registry, runs, speed

IMAGE_SHAPE = (28, 28, 1)


def real_batch(n=32):
    return tf.random.uniform((n, *IMAGE_SHAPE), -1.0, 1.0, seed=0)


def test_without_mixed_precision_everything_is_float32():
    assert runs.dtype_policy(False, gpu=True) == 'float32'
    gan = runs.build_gan(Config(), IMAGE_SHAPE)
    assert {layer.compute_dtype for layer in gan.generator._flatten_layers()} == {'float32'}


@pytest.mark.parametrize('flags, expected', [
    ('flags\t\t: fpu sse avx2 fma avx512f avx512_bf16 amx_tile amx_bf16', True),
    ('flags\t\t: fpu sse avx2 fma', False),  # an AVX2 EPYC: bfloat16 is emulated
    ('Features\t: fp asimd bf16 i8mm', True),  # Arm
])
def test_bfloat16_hardware_is_read_from_cpuinfo(flags, expected, tmp_path, monkeypatch):
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text(f'processor\t: 0\nmodel name\t: X\n{flags}\n\n')
    assert runs.cpu_has_bfloat16_units(str(cpuinfo)) is expected
    assert runs.cpu_has_bfloat16_units(str(tmp_path / 'absent')) is None
    monkeypatch.setattr(runs, 'cpu_has_bfloat16_units', lambda: expected)
    with pytest.warns(UserWarning, match='no bfloat16 units') if not expected else \
            warnings.catch_warnings():
        if expected:
            warnings.simplefilter('error')
        assert runs.dtype_policy(True, gpu=False) == 'mixed_bfloat16'


@pytest.mark.parametrize('arch', sorted(registry.ARCHITECTURES))
@pytest.mark.parametrize('gpu', [False, True], ids=['cpu-bfloat16', 'gpu-float16'])
def test_mixed_precision_computes_in_16_bits_and_returns_float32(arch, gpu):
    policy = runs.dtype_policy(True, gpu=gpu)
    assert policy == ('mixed_float16' if gpu else 'mixed_bfloat16')
    gan = runs.build_gan(Config(arch=arch, mixed_precision=True), IMAGE_SHAPE, policy=policy)
    assert keras.config.dtype_policy().name == 'float32'  # the global one restored
    assert gan.generator.compute_dtype == policy.removeprefix('mixed_')
    # Weights stay float32, so small updates are not rounded away.
    assert {v.dtype for v in gan.generator.trainable_variables} == {'float32'}
    # What leaves the players is float32: images for export and samples, logits
    # for the losses (a 16-bit mean over a batch loses the loss's small changes).
    images = gan.generator(gan.sample_noise(4))
    assert images.dtype == 'float32' and images.shape == (4, *IMAGE_SHAPE)
    assert gan.discriminator(images).dtype == 'float32'
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer) == gpu


@pytest.mark.parametrize('gpu', [False, True], ids=['cpu-bfloat16', 'gpu-float16'])
def test_mixed_precision_trains(gpu):
    config = Config(mixed_precision=True, batch_size=32)
    gan = runs.build_gan(config, IMAGE_SHAPE,
                          policy=runs.dtype_policy(True, gpu=gpu))
    before = [v.numpy().copy() for v in gan.generator.trainable_variables]
    for _ in range(5):
        metrics = gan.train_step(real_batch())
    assert all(np.isfinite(float(value)) for value in metrics.values())
    assert float(metrics['g_grad_norm']) > 0
    assert all(not np.array_equal(b, v.numpy())
               for b, v in zip(before, gan.generator.trainable_variables))


def test_loss_scaling_skips_a_step_whose_float16_gradient_overflows():
    gan = runs.build_gan(Config(mixed_precision=True, batch_size=32), IMAGE_SHAPE,
                          policy=runs.dtype_policy(True, gpu=True))
    gan.train_step(real_batch())
    gan.g_optimizer.dynamic_scale.assign(2.0 ** 100)  # float16 overflows at 65504
    before = [v.numpy().copy() for v in gan.generator.trainable_variables]
    g_loss, g_grad_norm = gan._train_generator(real_batch())
    assert np.isfinite(float(g_loss)) and float(g_grad_norm) == 0.0  # nothing applied
    assert all(np.array_equal(b, v.numpy())
               for b, v in zip(before, gan.generator.trainable_variables))
    assert float(gan.g_optimizer.dynamic_scale) == 2.0 ** 99  # halved, to try again
    g_loss, g_grad_norm = gan._train_generator(real_batch())
    assert float(g_grad_norm) == 0.0  # 2**99 still overflows
    # The reported norm is of the unscaled gradient: the same as float32's order.
    gan.g_optimizer.dynamic_scale.assign(2.0 ** 10)
    _, g_grad_norm = gan._train_generator(real_batch())
    reference = runs.build_gan(Config(batch_size=32), IMAGE_SHAPE)
    reference.set_weights(gan.get_weights()[:len(reference.get_weights())])
    assert 0.5 < float(g_grad_norm) / float(reference._train_generator(real_batch())[1]) < 2


def test_loss_scaled_checkpoint_resumes(tmp_path):
    policy = runs.dtype_policy(True, gpu=True)
    gan = runs.build_gan(Config(mixed_precision=True, batch_size=32), IMAGE_SHAPE, policy=policy)
    for _ in range(3):
        gan.train_step(real_batch())
    path = runs.make_checkpoint(gan).save(str(tmp_path / 'ckpt'))
    restored = runs.build_gan(Config(mixed_precision=True, batch_size=32), IMAGE_SHAPE,
                               policy=policy)
    runs.make_checkpoint(restored).restore(path).assert_existing_objects_matched()
    assert int(restored.step) == 3
    assert float(restored.g_optimizer.dynamic_scale) == float(gan.g_optimizer.dynamic_scale)


def test_jit_compile_trains_through_fit():
    gan = runs.build_gan(Config(jit_compile=True, batch_size=32, g_widths=(64, 128),
                                d_widths=(128, 64)), IMAGE_SHAPE)  # small: quick to compile
    assert gan.jit_compile
    history = gan.fit(tf.data.Dataset.from_tensors(real_batch()).repeat(3), verbose=0,
                      shuffle=False)
    assert int(gan.step) == 3 and np.isfinite(history.history['d_loss'][-1])


def test_bench_reports_the_compute_dtype_matmul_rate():
    result = speed.benchmark(Config(batch_size=16, mixed_precision=True), IMAGE_SHAPE,
                             steps=2, repeats=1, matmul_size=256)
    assert result['compute_dtype'] == 'bfloat16'
    assert result['bfloat16_matmul_gflops'] > 0 and result['float32_matmul_gflops'] > 0


def test_mixed_precision_run_exports_float32_images(mnist_data_dir, tmp_path):
    from gan_tf import main
    out = tmp_path / 'out'
    status, _, err = run_command(main, '--mixed_precision', '--max_steps=10',
                                 '--batch_size=32', f'--data_dir={mnist_data_dir}',
                                 f'--out_dir={out}', '--run_name=bf16', '--eval_every=0',
                                 '--nohealth_classes', '--sample_every=10',
                                 '--g_widths=64', '--d_widths=64')
    assert status == 0, err
    run_dir = out / 'bf16'
    assert json.load(open(run_dir / 'config.json'))['config']['mixed_precision'] is True
    serving = tf.saved_model.load(str(run_dir / 'export')).signatures['serving_default']
    images = serving(z=tf.random.normal([3, 100]))['images']
    assert images.dtype == tf.float32 and images.shape == (3, 28, 28, 1)
    assert -1.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
    assert os.path.exists(run_dir / 'samples' / 'step_000010.png')


@pytest.mark.parametrize('loss', ['non_saturating', 'acgan'])
def test_mixed_precision_conditional_players_return_float32(loss):
    gan = runs.build_gan(Config(mixed_precision=True, conditional=True, loss=loss),
                          IMAGE_SHAPE, num_classes=10)
    labels = tf.constant([0, 3, 9])
    images = gan.generator(gan.sample_noise(3), labels)
    logits, class_logits = gan._discriminate(images, labels)
    assert images.dtype == logits.dtype == 'float32'
    assert class_logits is None if loss != 'acgan' else class_logits.dtype == 'float32'
