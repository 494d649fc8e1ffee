"""tf.distribute: MirroredStrategy over 2 logical CPU devices against one device,
two MultiWorkerMirroredStrategy workers on 127.0.0.1, and their bad input."""
import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, error_of, once_per_session, run_cli

# Splitting the CPU into logical devices has to happen before TensorFlow
# initialises, hence a fresh process for anything with 2 replicas.
SPLIT_CPU = textwrap.dedent('''
    import tensorflow as tf
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices('CPU')[0],
        [tf.config.LogicalDeviceConfiguration()] * 2)
''')

# Same seed, same global batch, same data: default strategy, then MirroredStrategy
# over /cpu:0 and /cpu:1. D has dropout: each replica draws its slice of the
# global batch's masks (gan_tf.models.layers.Dropout).
EQUIVALENCE = SPLIT_CPU + textwrap.dedent('''
    import json, sys
    import keras, numpy as np
    from gan_tf import distribute, registry
    from gan_tf.gan import GAN
    from gan_tf.models.conditional import conditional
    from gan_tf.models.mlp import MLPDiscriminator, MLPGenerator
    from gan_tf.optimizers import FusedAdam

    CASES = {
        'adam-stabilisers': dict(loss='non_saturating', d_steps=1, optimizer='adam',
                                 options=dict(diffaugment='color,translation,cutout',
                                              instance_noise=0.1, r1_weight=1.0,
                                              ema_decay=0.9)),
        # SGD: unlike Adam, its step is proportional to the gradient, so it
        # shows whether the replicas' gradients are scaled to the global mean.
        'sgd-wgan_gp-d_steps-2': dict(loss='wgan_gp', d_steps=2, optimizer='sgd',
                                      options={}),
        # (images, labels) batches: each replica's labels must follow its images.
        'conditional-acgan-d_steps-2': dict(loss='acgan', d_steps=2, optimizer='adam',
                                            options={}, num_classes=10),
    }
    B, STEPS, SHAPE = 32, 5, (28, 28, 1)

    def train(strategy, case):
        keras.utils.set_random_seed(0)
        optimizer = (lambda: keras.optimizers.SGD(0.05) if case['optimizer'] == 'sgd'
                     else FusedAdam(2e-4, beta_1=0.5))
        classes = case.get('num_classes', 0)
        with strategy.scope():
            players = (MLPGenerator(SHAPE, (64, 128)),
                       MLPDiscriminator(SHAPE, (128, 64)))
            if classes:
                players = conditional(*players, classes,
                                      auxiliary_classifier=case['loss'] == 'acgan')
            gan = GAN(*players, latent_dim=16,
                      d_steps=case['d_steps'], seed=0, **case['options'])
            gan.compile(optimizer(), optimizer(), loss=case['loss'])
        images = np.random.default_rng(0).uniform(
            -1, 1, (B * case['d_steps'] * STEPS, *SHAPE)).astype('float32')
        labels = np.arange(len(images)) * 7 % 10  # any labels, tied to the images
        data = tf.data.Dataset.from_tensor_slices(
            (images, labels) if classes else images).batch(
            B * case['d_steps'], drop_remainder=True)
        rows = []
        gan.fit(distribute.distribute_input(data, strategy, case['d_steps']),
                epochs=1, steps_per_epoch=STEPS, verbose=0,
                callbacks=[keras.callbacks.LambdaCallback(
                    on_train_batch_end=lambda batch, logs: rows.append(
                        {k: float(v) for k, v in logs.items()}))])
        states = [v.numpy().tolist() for v in gan.variables
                  if 'seed_generator_state' in v.path]
        return [w.numpy() for w in gan.weights], rows[-1], states, int(gan.step)

    results = {}
    # One strategy for all cases: a second MirroredStrategy in one process reuses
    # the first one's collective keys, whose shapes TensorFlow has cached.
    mirrored = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
    for name in sys.argv[1].split(','):
        case = CASES[name]
        one = train(tf.distribute.get_strategy(), case)
        two = train(mirrored, case)
        results[name] = dict(
            relative_accuracy=registry.loss(case['loss']).boundary is None,
            max_weight_difference=max(float(np.max(np.abs(a - b)))
                                      for a, b in zip(one[0], two[0])),
            metrics=[one[1], two[1]], seed_states=[one[2], two[2]],
            steps=[one[3], two[3]])
    print('RESULT ' + json.dumps(results), flush=True)

    # And, given flags, a global batch the 2 replicas cannot split, from the
    # command line.
    if sys.argv[2:]:
        from gan_tf import main
        main.run(['gan_tf', '--strategy=mirrored', '--batch_size=33', '--max_steps=1',
                  *sys.argv[2:]])
''')
# Each case is a few seconds of tracing: the default suite runs the one that shows
# the gradient scaling and the D steps' split, the slow suite the other two.
DEFAULT_CASES = 'sgd-wgan_gp-d_steps-2'
SLOW_CASES = 'adam-stabilisers,conditional-acgan-d_steps-2'


def checkpoint_values(prefix):
    """{name: value} of every weight, optimizer slot and random state saved."""
    reader = tf.train.load_checkpoint(str(prefix))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name != '_CHECKPOINTABLE_OBJECT_GRAPH'}


def python(code, *args, env=None, timeout=300):
    return subprocess.run([sys.executable, '-c', code, *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, env=env)


def test_order_for_replicas_gives_each_replica_its_slice_of_every_d_update():
    from gan_tf.distribute import order_for_replicas
    # 2 D updates of 4 images each (0-3, 4-7), 2 replicas: replica 0 must get
    # 0, 1 (its half of update 1), then 4, 5 (of update 2); replica 1 the rest.
    ordered = order_for_replicas(tf.range(8.0)[:, None], parts=2, replicas=2)
    assert ordered[:, 0].numpy().tolist() == [0, 1, 4, 5, 2, 3, 6, 7]


@pytest.fixture
def two_replicas(mnist_data_dir, tmp_path_factory):
    """One process with the CPU split in 2, once per session (both tests read
    it, perhaps on different xdist workers): the DEFAULT_CASES, then
    `gan_tf.main` with a batch of 33. Returns the CompletedProcess and that
    run's out_dir."""
    def run(folder):
        (folder / 'out').mkdir()
        result = python(EQUIVALENCE, DEFAULT_CASES, f'--data_dir={mnist_data_dir}',
                        f'--out_dir={folder / "out"}')
        (folder / 'result.json').write_text(json.dumps(
            [result.returncode, result.stdout, result.stderr]))

    folder = once_per_session(tmp_path_factory, 'two_replicas', run)
    returncode, stdout, stderr = json.loads((folder / 'result.json').read_text())
    return subprocess.CompletedProcess(EQUIVALENCE, returncode, stdout, stderr), folder / 'out'


def assert_two_replicas_trained_as_one_device_did(result, cases):
    """MirroredStrategy over 2 logical CPU devices ended, after 5 steps, with the
    weights one device reaches for the same seed and global batch, in each of
    `cases` (EQUIVALENCE's output).

    Tolerance 1e-5 on every weight: 2 replicas sum two half-batch gradient means
    where one device takes one full-batch mean, so float32 rounding differs (we
    see differences of about 1e-7). A real mismatch (both replicas drawing the
    same noise, a gradient not scaled to the global mean, D updates on the wrong
    images) moves weights by about the learning rate per step, 1e-4 or more.
    """
    line = next((l for l in result.stdout.splitlines() if l.startswith('RESULT ')), None)
    assert line, result.stderr[-3000:]
    results = json.loads(line[len('RESULT '):])
    assert sorted(results) == sorted(cases.split(','))
    for name, case in results.items():
        assert case['max_weight_difference'] < 1e-5, (name, case)
        assert case['steps'] == [5, 5], name
        # The noise generator advanced alike (once per draw, not per replica).
        assert case['seed_states'][0] == case['seed_states'][1], name
        one, two = case['metrics']
        # Metrics are means over the replicas, so they match one device's too;
        # gradient norms are each replica's, for half the batch (see gan.METRICS).
        # Accuracies of losses without an absolute boundary compare each image
        # with its own replica's batch mean (see BUILD.md): left out for those.
        relative = case.get('relative_accuracy')
        for key in ('d_loss', 'g_loss', 'D_x', 'D_G_z', 'acc_real', 'acc_fake'):
            if relative and key.startswith('acc_'):
                continue
            assert two[key] == pytest.approx(one[key], rel=1e-4, abs=1e-5), (name, key)


def test_two_replicas_train_as_one_device_does(two_replicas):
    assert_two_replicas_trained_as_one_device_did(two_replicas[0], DEFAULT_CASES)


@pytest.mark.slow
def test_two_replicas_train_as_one_device_does_with_stabilisers_and_labels():
    result = python(EQUIVALENCE, SLOW_CASES)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_two_replicas_trained_as_one_device_did(result, SLOW_CASES)


@pytest.mark.slow
def test_mirrored_run_from_the_command_line_resumes_on_one_device(mnist_data_dir,
                                                                 tmp_path):
    """`--strategy=mirrored` over 2 logical CPU devices leaves a complete run, and
    its checkpoint continues under the default strategy (a setting, not a
    training option: no --allow_config_change needed)."""
    flags = [f'--data_dir={mnist_data_dir}', f'--out_dir={tmp_path}', '--run_name=m',
             '--batch_size=32', '--log_every=5', '--sample_every=5',
             '--checkpoint_every=5', '--eval_every=0', '--nohealth_classes', '--noexport']
    main = SPLIT_CPU + 'from gan_tf import main; main.run()\n'
    result = python(main, '--strategy=mirrored', '--max_steps=10', *flags)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / 'm'
    with open(run_dir / 'metrics.csv') as f:
        assert [line.split(',')[0] for line in f][1:] == ['5', '10']
    assert (run_dir / 'checkpoints' / 'ckpt-10.index').exists()

    resumed = run_cli('--strategy=default', '--resume', '--max_steps=12', *flags)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'step 12 of 12' in resumed.stdout


def test_a_batch_that_does_not_split_between_the_replicas_is_refused(two_replicas):
    result, out = two_replicas
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        'error: --batch_size=33 does not split evenly between the 2 replicas of '
        '--strategy=mirrored: use a multiple of 2')
    assert list(out.iterdir()) == []


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(flags, tmp_path, out_dirs, command=('-m', 'gan_tf.main')):
    """Two `gan_tf.main --strategy=multi_worker` processes on 127.0.0.1, worker 0
    (the chief) writing to out_dirs[0], worker 1 to out_dirs[1]. Each worker has
    its own TMPDIR, to see what it leaves there; output goes to files (a pipe
    nobody reads would fill up and stop the worker). `command`: how Python runs
    gan_tf.main."""
    cluster = {'worker': [f'127.0.0.1:{port}' for port in free_ports(2)]}
    workers = []
    for index in range(2):
        tmp = tmp_path / f'tmp{index}'
        tmp.mkdir()
        env = dict(os.environ, TMPDIR=str(tmp), TF_CONFIG=json.dumps(
            {'cluster': cluster, 'task': {'type': 'worker', 'index': index}}))
        with open(tmp_path / f'worker{index}.out', 'w') as out, \
                open(tmp_path / f'worker{index}.err', 'w') as err:
            worker = subprocess.Popen(
                [sys.executable, *command, '--strategy=multi_worker',
                 f'--out_dir={out_dirs[index]}', *flags],
                cwd=REPO, env=env, stdout=out, stderr=err)
        worker.logs = tmp_path / f'worker{index}'
        workers.append(worker)
    return workers


def finish(worker, timeout):
    """(exit status, stdout, stderr) of `worker` once it ends, within `timeout` s."""
    try:
        worker.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
        pytest.fail(f'worker still running after {timeout} s')
    return (worker.returncode, worker.logs.with_suffix('.out').read_text(),
            worker.logs.with_suffix('.err').read_text())


MULTI_WORKER_FLAGS = ['--run_name=mw', '--batch_size=32', '--log_every=5',
                      '--sample_every=5', '--checkpoint_every=5', '--eval_every=0',
                      '--nohealth_classes', '--g_widths=64,128', '--d_widths=128,64']


@pytest.mark.slow  # three TensorFlow processes and two runs: 60 to 120 s
def test_two_workers_train_together_and_only_the_chief_writes(mnist_data_dir,
                                                              tmp_path):
    chief_out, worker_out = tmp_path / 'chief', tmp_path / 'worker'
    flags = [f'--data_dir={mnist_data_dir}', '--max_steps=10', *MULTI_WORKER_FLAGS]
    workers = start_workers(flags, tmp_path, [chief_out, worker_out])
    results = [finish(worker, 300) for worker in workers]
    for rc, stdout, stderr in results:
        assert rc == 0, stderr[-3000:]
    assert 'step 10 of 10; results in' in results[0][1]
    assert 'step 10 of 10 done; the chief writes the results' in results[1][1]
    # The other worker wrote nothing: no run directory, no temporary checkpoint.
    assert not worker_out.exists()
    assert list((tmp_path / 'tmp1').iterdir()) == []

    run_dir = chief_out / 'mw'
    with open(run_dir / 'metrics.csv') as f:
        assert [line.split(',')[0] for line in f][1:] == ['5', '10']
    # Together: the chief ends where one device with the global batch ends (two
    # workers training alone would each take their own steps on half the data).
    assert error_of(['--strategy=default', f'--out_dir={tmp_path / "one"}', *flags]) is None
    one = checkpoint_values(tmp_path / 'one' / 'mw' / 'checkpoints' / 'ckpt-10')
    together = checkpoint_values(run_dir / 'checkpoints' / 'ckpt-10')
    assert one.keys() == together.keys()
    for name, value in one.items():
        assert np.allclose(together[name], value, atol=1e-5), name
    # The chief's export loads and generates; its checkpoint continues on one device.
    generate = tf.saved_model.load(str(run_dir / 'export')).signatures['generate']
    images = generate(num=tf.constant(3), seed=tf.constant(1, tf.int64))['images']
    assert images.shape == (3, 28, 28, 1) and images.dtype == tf.uint8
    assert np.std(images.numpy()) > 1
    assert error_of(['--strategy=default', '--resume', '--max_steps=12', '--noexport',
                     f'--out_dir={chief_out}', *flags[:1], *MULTI_WORKER_FLAGS]) is None
    assert (run_dir / 'checkpoints' / 'ckpt-12.index').exists()


# gan_tf.main in a process whose memory budget holds no images: a folder streams
# from its cache, as one larger than memory does.
STREAMING_MAIN = ('-c', 'import sys; from gan_tf.data import folder; '
                  'folder.memory_budget = lambda: 0; from gan_tf import cli, main; '
                  'cli.main(main.COMMAND, ["gan_tf.main", *sys.argv[1:]])')


@pytest.mark.slow  # two worker processes: 30 s
def test_two_workers_on_a_streamed_folder_each_read_their_own_shards(tmp_path,
                                                                      monkeypatch):
    import image_folders
    from gan_tf import data as gan_data
    from gan_tf.data import cache
    root = image_folders.labelled_digits(tmp_path / 'digits', per_class=6).root  # 60
    data_dir = tmp_path / 'data'  # prepared here in 3 shards (20 images each)
    # 20 images a shard: some digits are stored as RGB (WebP, JPEG), so the writer
    # sizes its shards for 3 channels
    monkeypatch.setattr(cache, 'SHARD_BYTES', 20 * 32 * 32 * 3)
    prepared = gan_data.load(str(root), str(data_dir), image_size=32, quiet=True)
    assert len(prepared.cache_files[1]['shards']) == 3
    out = tmp_path / 'out'
    flags = [f'--dataset={root}', f'--data_dir={data_dir}', '--image_size=32',
             '--arch=dcgan', '--g_widths=16,8', '--d_widths=8,16', '--max_steps=6',
             '--noexport', *MULTI_WORKER_FLAGS[:1], '--batch_size=8', '--log_every=3',
             '--sample_every=3', '--checkpoint_every=3', '--eval_every=0',
             '--nohealth_classes']
    workers = start_workers(flags, tmp_path, [out, tmp_path / 'out1'], STREAMING_MAIN)
    (rc0, out0, err0), (rc1, out1, err1) = [finish(worker, 300) for worker in workers]
    assert rc0 == 0 and rc1 == 0, (err0[-3000:], err1[-3000:])
    assert "data: worker 0 of 2 reads its own 2 of the cache's 3 shards (40 images)" in out0
    assert "data: worker 1 of 2 reads its own 1 of the cache's 3 shards (20 images)" in out1
    assert 'step 6 of 6; results in' in out0
    with open(out / 'mw' / 'metrics.csv') as f:
        assert [line.split(',')[0] for line in f][1:] == ['3', '6']


@pytest.mark.slow  # two more worker processes: 30 s
def test_a_worker_that_dies_is_reported_by_the_other(mnist_data_dir, tmp_path):
    out = tmp_path / 'out'
    flags = [f'--data_dir={mnist_data_dir}', '--max_steps=100000', '--noexport',
             *MULTI_WORKER_FLAGS]
    chief, worker = start_workers(flags, tmp_path, [out, out])
    checkpoint = out / 'mw' / 'checkpoints' / 'ckpt-5.index'
    deadline = time.monotonic() + 240
    while not checkpoint.exists():  # training is under way once step 5 is saved
        assert time.monotonic() < deadline, 'no checkpoint after 240 s'
        try:
            chief.wait(timeout=0.5)
            pytest.fail(f'the chief stopped early: {finish(chief, 1)[2][-3000:]}')
        except subprocess.TimeoutExpired:
            pass
    worker.kill()
    worker.wait()
    killed = time.monotonic()
    rc, _, stderr = finish(chief, 120)
    assert rc == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith('error: lost contact with /job:worker/replica:0/task:1 '), last
    assert '--resume' in last
    # Seconds, not the minutes of a collective timeout: the dead connection is
    # reset at once, or the coordination service misses its heartbeats.
    assert time.monotonic() - killed < 30


@pytest.mark.parametrize('tf_config, expected', [
    (None, '--strategy=multi_worker needs the TF_CONFIG environment variable'),
    ('{"cluster": ', 'TF_CONFIG is malformed (not JSON'),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "TF_CONFIG is malformed (no 'task')"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}',
     'TF_CONFIG: task index 3 is not one of the 1 worker addresses'),
])
def test_multi_worker_without_a_valid_tf_config_is_one_error_line(tf_config, expected,
                                                                  tmp_path, monkeypatch):
    """Checked before any strategy exists: in this process."""
    monkeypatch.delenv('TF_CONFIG', raising=False)
    if tf_config is not None:
        monkeypatch.setenv('TF_CONFIG', tf_config)
    error = error_of(['--strategy=multi_worker', f'--out_dir={tmp_path}'])
    assert error.startswith(f'error: {expected}') and '\n' not in error
    assert list(tmp_path.iterdir()) == []
