import glob
import json
import os

import pytest
from PIL import Image

from conftest import REPO, run_example, shared_files


def test_train_with_fit_example_runs_and_writes_samples(mnist_data_dir, tmp_path,
                                                        monkeypatch, capsys):
    status, out = run_example('train_with_fit.py', shared_files('mnist'), 30, cwd=tmp_path,
                              env={'TFDS_DATA_DIR': mnist_data_dir},  # prepared
                              monkeypatch=monkeypatch, capsys=capsys)
    assert status == 0 and 'trained 30 steps' in out, out
    assert Image.open(tmp_path / 'samples.png').size == (8 * 30 * 2 + 4, 8 * 30 * 2 + 4)


@pytest.mark.slow  # every flagfile is parsed into a Config by the default suite
def test_flagfile_example_trains(mnist_data_dir, tmp_path):
    from conftest import run_cli
    result = run_cli(f'--flagfile={os.path.join(REPO, "examples", "mlp.flags")}',
                     f'--data_dir={mnist_data_dir}', f'--out_dir={tmp_path}',
                     '--max_steps=5', '--noexport', '--eval_every=0', '--nohealth_classes')
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((tmp_path / 'mnist-mlp-non_saturating' / 'config.json').read_text())
    assert config['config']['arch'] == 'mlp' and config['config']['max_steps'] == 5


RECIPES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, 'examples',
                                                                     '*.flags')))


@pytest.mark.parametrize('flagfile', RECIPES)
def test_every_recipe_names_only_what_differs_from_the_defaults(flagfile):
    """The defaults are each architecture's best recipe, so a recipe file holds
    the architecture and what it changes (a dataset, --conditional), no line
    that the defaults already say; and it names no folder of this repository's
    machine."""
    from gan_tf import Config, cli, config, main
    path = os.path.join(REPO, 'examples', flagfile)
    options = cli.parse(main.COMMAND, ['gan_tf', f'--flagfile={path}'])
    lines = [line.strip() for line in open(path) if line.startswith('--')]
    named = {line[2:].split('=')[0]: line for line in lines}
    assert 'arch' in named and not any('shared' in line for line in lines)
    for name, line in named.items():
        if name != 'arch':
            assert getattr(options, name) != config.default(name, options.arch), line
    assert options == Config(**{
        name: getattr(options, name) for name in named})
    # Named after the architecture it trains (conditional.flags: an mlp recipe;
    # folder.flags: dcgan's for small folders of your own images, which it
    # leaves to the user to name).
    if flagfile == 'folder.flags':
        assert options.arch == 'dcgan' and options.diffaugment and 'dataset' not in named
    else:
        assert options.arch == flagfile.removesuffix('.flags') or options.conditional
