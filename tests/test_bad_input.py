"""Every mistake on the command line gets one clear line on stderr, a non-zero
exit, no traceback, and leaves what is already on disk as it was.

The table runs in this process, as `gan_tf.main` does (flags parsed into a
`Config`, then `train_and_evaluate`), where every mistake must surface as an absl
flag error or a `UserError`: `main` prints either as one `error: ...` line and
exits with status 1, which a few command-line runs below check end to end.

A full disk while checkpointing needs a process of its own (a file-size limit):
it is in test_reliability.py, with the same checks."""
import hashlib
import shutil

import pytest

from conftest import FLAGS, error_of, run_cli, run_command, shared_files
from gan_tf.registry import ARCHITECTURES, LOSSES


def fashion_files(tmp_path, damage):
    """A copy of Fashion-MNIST's original files with `damage` done to its training images."""
    manual = tmp_path / 'manual'
    shutil.copytree(shared_files('fashion_mnist'), manual)
    images = manual / 'train-images-idx3-ubyte.gz'
    images.chmod(0o644)
    damage(images)
    return [f'--manual_dir={manual}', '--dataset=fashion_mnist',
            f'--data_dir={tmp_path / "tfds"}']


def truncate(path):
    path.write_bytes(path.read_bytes()[:100_000])


def a_folder_instead(path):  # unreadable as a file, even for root
    path.unlink()
    path.mkdir()


def an_earlier_run(tmp_path, checkpoints=True):
    """A run directory holding files a mistake must not touch."""
    run_dir = tmp_path / 'out' / 'mine'
    (run_dir / 'checkpoints').mkdir(parents=True)
    (run_dir / 'config.json').write_text('{"config": {}}')
    if checkpoints:
        (run_dir / 'checkpoints' / 'checkpoint').write_text('precious')
    return ['--run_name=mine']


def a_file_in_the_way(tmp_path):
    (tmp_path / 'blocker').write_text('not a folder')
    return [f'--out_dir={tmp_path / "blocker" / "out"}']


def outside(tmp_path, run_name, overwrite=True):
    """A run name aimed outside --out_dir, with a folder there that looks like a
    run (so that only the name's check, not a missing config.json, saves it)."""
    victim = tmp_path / 'victim'
    victim.mkdir(exist_ok=True)
    (victim / 'config.json').write_text('{"config": {}}')
    (tmp_path / 'sentinel.txt').write_text('must survive')
    return [f'--run_name={run_name(tmp_path)}', *(['--overwrite'] if overwrite else [])]


def a_link_out_of_out_dir(tmp_path):
    args = outside(tmp_path, lambda t: 'link')
    (tmp_path / 'out').mkdir(exist_ok=True)
    (tmp_path / 'out' / 'link').symlink_to(tmp_path / 'victim')
    return args


def a_folder_that_is_no_run(tmp_path):
    (tmp_path / 'out' / 'photos').mkdir(parents=True)
    (tmp_path / 'out' / 'photos' / 'holiday.jpg').write_bytes(b'precious')
    return ['--run_name=photos', '--overwrite']


def a_flagfile(tmp_path, text):
    (tmp_path / 'my.flags').write_text(text)
    return [f'--flagfile={tmp_path / "my.flags"}']


CASES = {
    'unknown architecture': (lambda t: ['--arch=nope'],
                             f'--arch=nope: choose one of {", ".join(sorted(ARCHITECTURES))}'),
    'unknown loss': (lambda t: ['--loss=hinge2'],
                     f'--loss=hinge2: choose one of {", ".join(sorted(LOSSES))}'),
    'unknown noise': (lambda t: ['--noise=cauchy'], '--noise=cauchy: choose one of normal, uniform'),
    'unknown flag': (lambda t: ['--lrg=0.1'], "Unknown command line flag 'lrg'"),
    'unknown dataset': (lambda t: ['--dataset=mnsit'], "unknown dataset 'mnsit'"),
    'batch size 0': (lambda t: ['--batch_size=0'], '--batch_size=0: must be at least 1'),
    'batch size not a number': (lambda t: ['--batch_size=64x'], 'flag --batch_size=64x:'),
    'negative learning rate': (lambda t: ['--lr_d=-1'], '--lr_d=-1.0: must be at least 0'),
    'learning rate NaN': (lambda t: ['--lr_g=nan'], '--lr_g=nan: must be a finite number'),
    'learning rate infinite': (lambda t: ['--lr_d=inf'], '--lr_d=inf: must be a finite number'),
    'beta1 of 5': (lambda t: ['--beta1=5'], '--beta1=5.0: must be below 1'),
    'label smoothing of 1': (lambda t: ['--label_smoothing=1'],
                             '--label_smoothing=1.0: must be below 1'),
    'EMA decay of 1': (lambda t: ['--ema_decay=1'], '--ema_decay=1.0: must be below 1'),
    'widths not numbers': (lambda t: ['--g_widths=a,b'], 'expected comma-separated integers'),
    'widths zero or negative': (lambda t: ['--g_widths=0,-5'],
                                '--g_widths=0,-5: each value must be at least 1'),
    'latent size 0': (lambda t: ['--latent_dim=0'], '--latent_dim=0: must be at least 1'),
    'resume and overwrite together': (
        lambda t: [*an_earlier_run(t), '--resume', '--overwrite'],
        '--resume continues the run and --overwrite replaces it: pass one of them'),
    'a flagfile line without --': (lambda t: a_flagfile(t, '--arch=mlp\nbatch_size=32\n'),
                                   "my.flags, line 2: 'batch_size=32' is not a flag; write "
                                   'it --batch_size=32'),
    'a missing flagfile': (lambda t: [f'--flagfile={t / "nope.flags"}'],
                           'nope.flags: No such file or directory'),
    'run name ..': (lambda t: outside(t, lambda t: '..'), '--run_name=..: must be the name '
                    'of one folder inside --out_dir'),
    'run name .': (lambda t: outside(t, lambda t: '.'), '--run_name=.: must be the name'),
    'run name absolute': (lambda t: outside(t, lambda t: t / 'victim'), 'victim: must be the '
                          'name of one folder inside --out_dir'),
    'run name ../x': (lambda t: outside(t, lambda t: '../x', overwrite=False),
                      '--run_name=../x: must be the name'),
    'run directory a link out of out_dir': (a_link_out_of_out_dir, 'outside --out_dir'),
    'a folder that is no run': (a_folder_that_is_no_run, 'holds files but no config.json: '
                                'it is not a gan_tf run, and is left alone'),
    'missing data file': (
        lambda t: fashion_files(t, lambda p: p.unlink()),
        'lacks train-images-idx3-ubyte.gz'),
    'unreadable data file': (
        lambda t: fashion_files(t, a_folder_instead),
        'train-images-idx3-ubyte.gz cannot be read (Is a directory)'),
    'truncated IDX file': (
        lambda t: fashion_files(t, truncate),
        "train-images-idx3-ubyte.gz was rejected: its checksum is not the original file's"),
    'mistyped manual_dir': (lambda t: [f'--manual_dir={t / "mnsit"}', f'--data_dir={t / "tfds"}'],
                            'mnsit: no such folder'),
    'resume of no run': (lambda t: ['--resume', '--run_name=never_ran'], '--resume: no run at'),
    'resume with no checkpoint': (
        lambda t: [*an_earlier_run(t, checkpoints=False), '--resume'],
        '--resume: no checkpoint in'),
    'out_dir not writable': (a_file_in_the_way, 'cannot write to'),
    'existing run directory': (
        lambda t: an_earlier_run(t), 'already exists: pass --resume to continue it'),
    'a loss the architecture cannot serve': (
        lambda t: ['--arch=dcgan', '--loss=wgan_gp', *real_mnist()],
        'need a discriminator without batch normalisation, and DCGANDiscriminator has it'),
    'an option the loss ignores': (
        lambda t: ['--loss=wasserstein', '--label_smoothing=0.1'],
        "--label_smoothing=0.1: no effect with loss 'wasserstein'"),
    'batch size larger than the dataset': (
        lambda t: ['--batch_size=70000', *real_mnist()],
        '--batch_size=70000 with --d_steps=1 needs 70000 images a step; mnist has 60000'),
    'resume with other hyperparameters': (
        lambda t: [*copy_of_a_run(), '--resume', '--lr_d=0.001'],
        "--resume: flags differ from the run's: --lr_d=0.001 (run: 0.0002)"),
    'images the architecture cannot make': (
        lambda t: ['--arch=dcgan', '--g_widths=64,32,16', *real_mnist()],
        'divisible'),
}


ON_REAL_DATA = {'a loss the architecture cannot serve', 'batch size larger than the dataset',
                'resume with other hyperparameters', 'images the architecture cannot make'}


@pytest.fixture(autouse=True)
def _fixtures_on_demand(request):
    """Real MNIST, and a copy of a real run, only for the cases that use them."""
    global real_mnist, copy_of_a_run
    real_mnist = lambda: [f'--data_dir={request.getfixturevalue("mnist_data_dir")}']  # noqa: E731
    copy_of_a_run = lambda: [*FLAGS, *request.getfixturevalue('short_run_copy')[1]]  # noqa: E731


@pytest.mark.parametrize('case', [
    pytest.param(case, marks=pytest.mark.real_mnist) if case in ON_REAL_DATA else case
    for case in CASES])
def test_bad_input_gets_one_clear_line_and_loses_nothing(case, tmp_path):
    make_args, message = CASES[case]
    args = make_args(tmp_path)
    before = snapshot(tmp_path)
    error = error_of([f'--out_dir={tmp_path / "out"}', '--nodownload', *args])
    assert error is not None and message in error and '\n' not in error, error
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before
    assert not [k for k in after if k not in before and not k.startswith('tfds')], after


def test_the_command_line_prints_one_line_and_exits_1(tmp_path):
    """A mistake found in the flags, in a process of its own (TensorFlow never
    starts), and one found after TensorFlow started, through the same
    `cli.main` in this process."""
    from gan_tf import main
    make_args, message = CASES['unknown architecture']
    result = run_cli(f'--out_dir={tmp_path / "out"}', *make_args(tmp_path), timeout=300)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and message in last, result.stderr[-2000:]
    make_args, message = CASES['resume of no run']
    status, _, last = run_command(main, f'--out_dir={tmp_path / "out"}', '--nodownload',
                                  *make_args(tmp_path))
    assert status == 1 and last.startswith('error: ') and message in last, last


def test_overwrite_replaces_a_run_only_once_the_new_one_can_start(mnist_data_dir, tmp_path):
    args = an_earlier_run(tmp_path)
    before = snapshot(tmp_path)
    assert error_of([f'--out_dir={tmp_path / "out"}', f'--data_dir={mnist_data_dir}', *args,
                     '--overwrite', '--batch_size=70000']) == (
        'error: --batch_size=70000 with --d_steps=1 needs 70000 images a step; mnist '
        'has 60000: lower --batch_size')
    assert snapshot(tmp_path) == before


def test_overwrite_says_what_it_deleted(short_run_copy, capsys):
    run_dir, common = short_run_copy
    files = sum(1 for p in run_dir.rglob('*') if p.is_file())
    assert error_of([*FLAGS, *common, '--overwrite', '--max_steps=2']) is None
    assert f'--overwrite: deleted the earlier run in {run_dir} ({files} files, ' in \
        capsys.readouterr().out


def test_traceback_on_request(tmp_path):
    result = run_cli(f'--out_dir={tmp_path}', '--arch=nope', '--traceback')
    assert result.returncode != 0 and 'Traceback' in result.stderr


def snapshot(root):
    """{relative path: content hash} of every file under `root`."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}
