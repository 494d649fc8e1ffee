"""Measuring the training step's speed, and the exported generator's in each
runtime (`deploy_benchmark`): `python -m gan_tf.bench` (see `gan_tf.bench` for
what it prints)."""
import collections
import glob
import os
import platform
import shutil
import statistics
import tempfile
import time

import tensorflow as tf

from gan_tf import data as gan_data, exports, registry, runs


def step_flops(function, *args):
    """Floating-point operations in one call of tf.function `function`."""
    graph = function.get_concrete_function(*args).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options['output'] = 'none'
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def seconds_per_call(function, args, calls):
    """Mean wall time of `calls` calls, results fetched."""
    start = time.perf_counter()
    for _ in range(calls):
        result = function(*args)
    tf.nest.map_structure(lambda t: t.numpy(), result)
    return (time.perf_counter() - start) / calls


def op_time_by_type(function, args, calls=20):
    """{op type: milliseconds per call}, from a TensorFlow profiler trace.

    Times are summed over TensorFlow's executor threads, so ops that ran side by
    side both count: the total can exceed the step's wall time.
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2  # only for --profile
    logdir = tempfile.mkdtemp(prefix='gan_tf_profile_')
    tf.profiler.experimental.start(logdir)
    for _ in range(calls):
        result = function(*args)
    tf.nest.map_structure(lambda t: t.numpy(), result)
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    with open(glob.glob(f'{logdir}/**/*.xplane.pb', recursive=True)[0], 'rb') as f:
        space.ParseFromString(f.read())
    totals = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith('tf_Compute'):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                op_type = name.rsplit(':', 1)[-1]  # "op_name:OpType"
                if ':' in name and op_type != 'Process':  # Process: the whole call
                    totals[op_type] += event.duration_ps / 1e9 / calls
    return totals


def pipeline_images_per_second(data, batch_size, batches=200):
    """Images/second that `input_pipeline.train_batches` delivers from `data`,
    after its first pass has filled the cache, as training sees it."""
    iterator = iter(gan_data.train_batches(data, batch_size, seed=0))
    for _ in range(data.num_examples // batch_size + 1):  # the first epoch: cache
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator).numpy()
    return batches * batch_size / (time.perf_counter() - start)


def replica_devices(count):
    """`count` device names for MirroredStrategy: GPUs where that many are
    visible, else the CPU split into `count` logical devices (which has to
    happen before TensorFlow initialises its devices)."""
    if len(tf.config.list_physical_devices('GPU')) >= count:
        return [f'/gpu:{i}' for i in range(count)]
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices('CPU')[0],
        [tf.config.LogicalDeviceConfiguration()] * count)
    return [f'/cpu:{i}' for i in range(count)]


def benchmark(config, image_shape, steps, repeats, profile=False, strategy=None,
              matmul_size=2048):
    """Returns a dict of measurements for `config`'s training step (with its
    --mixed_precision and --jit_compile), on one device or, given `strategy`, on
    each of its replicas (`--batch_size` being the global batch, as in training),
    and the machine's rate on square matrices of `matmul_size`."""
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        gan = runs.build_gan(config, image_shape)
    batch = tf.random.uniform(
        (config.batch_size * config.discriminator_steps, *image_shape), -1, 1)
    if strategy.num_replicas_in_sync == 1:
        train_step = tf.function(gan.train_step, jit_compile=config.jit_compile)
    else:  # each replica its share of the batch, as `fit` would hand it
        batch = next(iter(strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensor_slices(batch).batch(len(batch)))))
        train_step = tf.function(
            lambda x: strategy.experimental_local_results(
                strategy.run(gan.train_step, args=(x,))),
            jit_compile=config.jit_compile)
    n = matmul_size
    # The float32 matmul is the yardstick; with mixed precision, also the
    # matmul in the players' compute dtype, the rate their matmuls could reach.
    compute_dtype = gan.generator.compute_dtype
    matrices = {dtype: [tf.random.normal((n, n), dtype=dtype) for _ in 'ab']
                for dtype in {'float32', compute_dtype}}
    matmul = tf.function(tf.linalg.matmul)
    train_step(batch)  # trace and warm up
    step_time, matmul_time = float('inf'), dict.fromkeys(matrices, float('inf'))
    for _ in range(repeats):  # alternate, so all see the same machine
        step_time = min(step_time, seconds_per_call(train_step, (batch,), steps))
        for dtype, ab in matrices.items():
            matmul(*ab)
            matmul_time[dtype] = min(matmul_time[dtype],
                                     seconds_per_call(matmul, ab, 10))
    flops = step_flops(train_step, batch)
    profile = op_time_by_type(train_step, (batch,)) if profile else None
    return {
        'profile_ms': profile,
        'step_ms': step_time * 1e3,
        'images_per_second': config.batch_size / step_time,
        'gflop_per_step': flops / 1e9,
        'model_gflops': flops / step_time / 1e9,
        'compute_dtype': compute_dtype,
        **{f'{dtype}_matmul_gflops': 2 * n ** 3 / seconds / 1e9
           for dtype, seconds in matmul_time.items()},
    }


def deploy_benchmark(config, image_shape, formats, repeats=20):
    """{export format: (megabytes on disk, milliseconds per batch)}: `config`'s
    generator (untrained) exported in each of `formats` and run in that format's
    own runtime on one batch of `config.batch_size` z, every CPU to each.
    Runtimes take turns, so that a busy machine slows all alike; the median of
    `repeats` turns counts."""
    num_classes = 10 if config.conditional else 0
    gan = runs.build_gan(config, image_shape, num_classes)
    servable = exports.servable_of(gan, config, image_shape)
    folder = tempfile.mkdtemp(prefix='gan_tf_deploy_')
    try:
        export_dir = exports.write(servable, os.path.join(folder, 'export'), formats)
        formats = registry.export_formats(formats)
        paths = {name: os.path.join(export_dir, registry.export_format(name).path)
                 for name in formats}
        runners = {name: registry.load(registry.export_format(name).load)(path)
                   for name, path in paths.items()}
        z, labels = servable.example_inputs(config.batch_size)
        times = {name: [] for name in formats}
        for turn in range(repeats + 2):  # the first two warm up
            for name, run in runners.items():
                start = time.perf_counter()
                run(z, labels)
                if turn >= 2:
                    times[name].append(time.perf_counter() - start)
        return {name: (disk_megabytes(paths[name]),
                       statistics.median(times[name]) * 1e3) for name in formats}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def disk_megabytes(path):
    """Megabytes of the file `path`, or of the SavedModel in folder `path`: all
    of it but the converted formats' folders."""
    if os.path.isfile(path):
        return os.path.getsize(path) / 1e6
    converted = {entry.path.split('/')[0]
                 for entry in registry.EXPORT_FORMATS.values() if entry.path}
    total = 0
    for folder, subfolders, names in os.walk(path):
        if folder == path:
            subfolders[:] = [name for name in subfolders if name not in converted]
        total += sum(os.path.getsize(os.path.join(folder, name)) for name in names)
    return total / 1e6


def cpu_name(cpuinfo='/proc/cpuinfo'):
    """This CPU's model name, from Linux's `cpuinfo` where it can be read."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith('model name'):
                    return line.partition(':')[2].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def print_deploy(config, image_shape, formats):
    """`python -m gan_tf.bench --deploy`: sizes and speed of each export format."""
    results = deploy_benchmark(config, image_shape, formats)
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    print(f'arch={config.arch} image_shape={image_shape} conditional='
          f'{config.conditional} batch={config.batch_size}, untrained weights')
    print(f'CPU: {cpu_name()}, {os.cpu_count()} logical CPUs, load average {load:.1f}')
    print(f'{"format":12s} {"on disk":>9s} {"ms/batch":>9s} {"images/s":>9s}')
    for name, (megabytes, ms) in results.items():
        print(f'{name:12s} {megabytes:6.1f} MB {ms:9.1f} '
              f'{config.batch_size / ms * 1e3:9.0f}')


def bench(options):
    """`python -m gan_tf.bench` (options: (Config, the bench flags))."""
    config, FLAGS = options
    image_shape = tuple(int(d) for d in FLAGS.image_shape)
    if config.image_size:  # --image_size=64: square colour images (--channels=1: grey)
        image_shape = (config.image_size, config.image_size, config.channels or 3)
    if FLAGS.deploy:
        print_deploy(config, image_shape, config.export_formats)
        return
    devices = replica_devices(FLAGS.replicas) if FLAGS.replicas > 1 else None
    data = None
    if FLAGS.pipeline:
        data = gan_data.load(config.dataset, config.data_dir, config.manual_dir,
                             download=config.download, **config.image_options)
        image_shape = data.image_shape
    result = benchmark(config, image_shape, FLAGS.steps, FLAGS.repeats, FLAGS.profile)
    fraction = result['model_gflops'] / result['float32_matmul_gflops']
    print(f'arch={config.arch} loss={config.loss} batch_size={config.batch_size} '
          f'd_steps={config.discriminator_steps} image_shape={image_shape} '
          f'jit_compile={config.jit_compile} compute_dtype={result["compute_dtype"]}')
    print(f'step:             {result["step_ms"]:8.2f} ms')
    print(f'images/second:    {result["images_per_second"]:8.0f}')
    print(f'FLOP per step:    {result["gflop_per_step"]:8.3f} GFLOP')
    print(f'model FLOP/s:     {result["model_gflops"]:8.1f} GFLOP/s')
    print(f'matmul FLOP/s:    {result["float32_matmul_gflops"]:8.1f} GFLOP/s '
          '(float32 2048x2048)')
    print(f'fraction of matmul rate: {fraction:.0%}')
    if result['compute_dtype'] != 'float32':
        rate = result[f'{result["compute_dtype"]}_matmul_gflops']
        print(f'{result["compute_dtype"]} matmul: {rate:8.1f} GFLOP/s; fraction of '
              f'that: {result["model_gflops"] / rate:.0%}')
    if data is not None:
        rate = pipeline_images_per_second(
            data, config.batch_size * config.discriminator_steps)
        print(f'input pipeline:   {rate:8.0f} images/second, '
              f'{rate / result["images_per_second"]:.0f} times the step\'s')
    if devices:
        mirrored = benchmark(config, image_shape, FLAGS.steps, FLAGS.repeats,
                             strategy=tf.distribute.MirroredStrategy(devices))
        print(f'{FLAGS.replicas} replicas ({", ".join(devices)}), MirroredStrategy, '
              f'global batch {config.batch_size}:')
        print(f'  step:           {mirrored["step_ms"]:8.2f} ms')
        print(f'  images/second:  {mirrored["images_per_second"]:8.0f}, '
              f'{mirrored["images_per_second"] / result["images_per_second"]:.2f} '
              'times one device\'s')
    if result['profile_ms']:
        print('time by op type, ms per step, summed over executor threads:')
        for op_type, ms in result['profile_ms'].most_common(12):
            print(f'  {op_type:28s} {ms:7.2f}')

