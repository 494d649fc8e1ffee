import pytest

from gan_tf import Config, speed
from gan_tf import data as gan_data


def test_bench_measures_the_step_and_the_machine():
    # Without the moving average, whose update over G's weights would add to the count.
    # Small matrices for the yardstick: its rate is only checked to be measured.
    result = speed.benchmark(Config(batch_size=16, ema_decay=None), (28, 28, 1), steps=2,
                             repeats=1, profile=True, matmul_size=256)
    # Matmul FLOPs of the MLP step, counted by hand. Per image, the discriminator
    # step runs G forward, D forward on real and fake, and D backward (weight
    # gradients, and input gradients past the first layer) for both; the generator
    # step runs G and D forward, D backward (input gradients), G backward.
    g = 100 * 256 + 256 * 512 + 512 * 1024 + 1024 * 784
    d = 784 * 1024 + 1024 * 512 + 512 * 256 + 256 * 1
    d_step = g + 2 * d + 2 * (d + d - 784 * 1024)
    g_step = g + d + d + g + (g - 100 * 256)
    matmul_gflop = 2 * (d_step + g_step) * 16 / 1e9
    # The profiler counts those plus the element-wise work (activations, Adam).
    assert matmul_gflop < result["gflop_per_step"] < 1.03 * matmul_gflop
    assert result['step_ms'] > 0 and result['float32_matmul_gflops'] > 0
    assert result['images_per_second'] == pytest.approx(16 / result['step_ms'] * 1e3)
    # The profile attributes time to the step's ops, matmuls among the largest.
    profile = result['profile_ms']
    assert profile['_MklMatMul'] + profile['_MklNativeFusedMatMul'] + profile['MatMul'] > 0
    assert 'ResourceApplyAdam' in profile and 'Process' not in profile


def test_pipeline_throughput_is_measured_on_real_data(mnist_data_dir):
    data = gan_data.load('mnist', mnist_data_dir, download=False)
    rate = speed.pipeline_images_per_second(data, batch_size=64, batches=50)
    assert rate > 10_000  # images/s; measured: about 500,000 on 2 cores


@pytest.mark.slow  # 6 s, most of it the 2048x2048 matmul yardstick
def test_bench_times_a_colour_dcgan_of_the_size_asked_for():
    """`python -m gan_tf.bench --arch=dcgan --image_size=32`: square colour images
    (BUILD.md's figures against PyTorch), here with small players."""
    from conftest import run_command
    from gan_tf import bench
    status, printed, last = run_command(
        bench, '--arch=dcgan', '--image_size=32', '--g_widths=8,4', '--d_widths=4,8',
        '--batch_size=8', '--steps=1', '--repeats=1')
    assert status == 0, last
    assert 'arch=dcgan' in printed and 'image_shape=(32, 32, 3)' in printed
    assert float(printed.split('images/second:')[1].split()[0]) > 0
    assert 'fraction of matmul rate:' in printed
