"""Training speed: `python -m gan_tf.bench --arch=mlp --batch_size=256`.

Prints images/second of the compiled training step, the FLOP/s that implies
(FLOPs counted by TensorFlow's profiler on the step's graph), and this machine's
float32 2048x2048 matmul FLOP/s measured in the same run, as a yardstick.
Timings alternate between the two and keep each one's best repeat, so a busy
machine slows both alike. It accepts every training flag (arch, loss, widths...).
"""
import time

from absl import app, flags

from gan_tf import main as cli

flags.DEFINE_integer('steps', 30, 'Training steps per timed repeat.', lower_bound=1)
flags.DEFINE_integer('repeats', 5, 'Timed repeats; the best one counts.', lower_bound=1)
flags.DEFINE_list('image_shape', ['28', '28', '1'], 'Height, width, channels.')
flags.DEFINE_bool('jit_compile', False, 'Compile the step with XLA.')
FLAGS = flags.FLAGS


def step_flops(function, *args):
    """Floating-point operations in one call of tf.function `function`."""
    import tensorflow as tf
    graph = function.get_concrete_function(*args).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options['output'] = 'none'
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def best_seconds(function, args, calls, repeats):
    """Best wall time over `repeats` of `calls` calls, results fetched."""
    import tensorflow as tf
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            result = function(*args)
        tf.nest.map_structure(lambda t: t.numpy(), result)
        best = min(best, time.perf_counter() - start)
    return best


def benchmark(config, image_shape, steps, repeats, jit_compile=False):
    """Returns a dict of measurements for `config`'s training step."""
    import tensorflow as tf

    from gan_tf import train
    gan = train.build_gan(config, image_shape)
    batch = tf.random.uniform((config.batch_size * config.d_steps, *image_shape), -1, 1)
    train_step = tf.function(gan.train_step, jit_compile=jit_compile)
    n = 2048
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    matmul = tf.function(tf.linalg.matmul)
    train_step(batch), matmul(a, b)  # trace and warm up
    step_time = matmul_time = float('inf')
    for _ in range(repeats):  # alternate, so both see the same machine
        step_time = min(step_time, best_seconds(train_step, (batch,), steps, 1) / steps)
        matmul_time = min(matmul_time, best_seconds(matmul, (a, b), 10, 1) / 10)
    flops = step_flops(train_step, batch)
    return {
        'step_ms': step_time * 1e3,
        'images_per_second': config.batch_size / step_time,
        'gflop_per_step': flops / 1e9,
        'model_gflops': flops / step_time / 1e9,
        'matmul_gflops': 2 * n ** 3 / matmul_time / 1e9,
    }


def main(argv):
    del argv
    config = cli.config_from_flags()
    image_shape = tuple(int(d) for d in FLAGS.image_shape)
    result = benchmark(config, image_shape, FLAGS.steps, FLAGS.repeats,
                       FLAGS.jit_compile)
    fraction = result['model_gflops'] / result['matmul_gflops']
    print(f'arch={config.arch} loss={config.loss} batch_size={config.batch_size} '
          f'd_steps={config.d_steps} image_shape={image_shape} '
          f'jit_compile={FLAGS.jit_compile}')
    print(f'step:             {result["step_ms"]:8.2f} ms')
    print(f'images/second:    {result["images_per_second"]:8.0f}')
    print(f'FLOP per step:    {result["gflop_per_step"]:8.3f} GFLOP')
    print(f'model FLOP/s:     {result["model_gflops"]:8.1f} GFLOP/s')
    print(f'matmul FLOP/s:    {result["matmul_gflops"]:8.1f} GFLOP/s (float32 2048x2048)')
    print(f'fraction of matmul rate: {fraction:.0%}')


if __name__ == '__main__':
    cli.define_flags()
    app.run(main)
