"""Is the judge valid? The disturbance tests Heusel et al. 2017 introduced FID with,
on the full judging classifier (the one `python -m gan_tf.evaluate` uses): BUILD.md's
"Judging sample quality" table.

    python benchmarks/judge_validity.py --data=/path/to/data   # holds mnist/, fashion_mnist/

For each dataset, real training images play the samples and are scored against
the test split, exactly as `gan_tf.evaluate` scores a generator's (an `Evaluator`,
its judge loaded from the cache or trained there once):

- each disturbance of `gan_tf.disturbances` at growing strength (0 is clean), with
  whether FID and KID rose from the level before; the other dataset mixed in is
  `mix_in` (Fashion-MNIST into MNIST, MNIST into Fashion-MNIST);
- mode dropping: the classes 9, 8, ... left out one by one;
- memorised copies: images among the training images the judge remembers
  (`judge.MEMORY_IMAGES`) against new ones.

The samples are training images outside the remembered ones, so that clean
images are not memorised. It ends with the issue's headline check (2% of the
pixels flipped to black or white must score worse than clean) and exits with 1
when that or any FID or KID rise fails.
"""
import argparse
import os
import sys
import time

import numpy as np

# The checkout's gan_tf, not an installed one: this script lives in benchmarks/.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gan_tf import data, disturbances, judge  # noqa: E402

DATASETS = ('mnist', 'fashion_mnist')
COLUMNS = ('FID', 'KID', 'precision', 'recall', 'coverage', 'classes covered',
           'memorised')


def cells(result):
    """A result's table cells, in COLUMNS' order."""
    return [f'{result["fid"]:.2f}', f'{result["kid"]:.4f}', f'{result["precision"]:.3f}',
            f'{result["recall"]:.3f}', f'{result["coverage"]:.3f}',
            str(result['classes_covered']), f'{result["memorised"]:.3f}']


def head(*names):
    """Prints a markdown table's head; `row` prints its rows as they come."""
    print('| ' + ' | '.join(names) + ' |\n|' + ' --- |' * len(names), flush=True)


def row(*cells_):
    print('| ' + ' | '.join(cells_) + ' |', flush=True)


def rising(values):
    return all(a < b for a, b in zip(values, values[1:]))


def validate(dataset, other, args):
    """Prints `dataset`'s tables; returns the failed checks' descriptions."""
    manual = os.path.join(args.data, dataset)
    started = time.monotonic()
    evaluator = judge.Evaluator(dataset, args.data_dir, manual)
    info = evaluator.info
    trained = info.get('seconds', info.get('train_seconds'))
    print(f'\n## {dataset}\n\nJudge: {info["train_examples"]:,} training images, '
          f'{info["epochs"]} epochs; test accuracy {info["test_accuracy"]:.2%}; '
          + (f'trained in {trained:.0f} s' if trained else 'training time not recorded')
          + f'; judge and reference ready in {time.monotonic() - started:.0f} s.',
          flush=True)

    train, train_labels = data.arrays(data.load(dataset, args.data_dir, manual,
                                                download=False))
    # The Evaluator remembers the first MEMORY_IMAGES of this permutation.
    order = np.random.default_rng(0).permutation(len(train))
    remembered, fresh = order[:judge.MEMORY_IMAGES], order[judge.MEMORY_IMAGES:]
    rng = np.random.default_rng(1)
    count = min(args.samples, len(fresh))
    images = train[rng.choice(fresh, count, replace=False)]
    other_images, _ = data.arrays(data.load(other, args.data_dir,
                                            os.path.join(args.data, other),
                                            download=False, split='test'))
    failed, fids = [], {}
    clean = evaluator.score(images)  # every disturbance's strength 0

    print(f'\n{count:,} real training images, disturbed, against the '
          f'{evaluator.real_count:,} test images (mix_in: {other} test images in place '
          'of a share of them).\n', flush=True)
    head('disturbance', 'strength', *COLUMNS, 'rose from the level before')
    for name, (_, strengths) in disturbances.DISTURBANCES.items():
        fid, kid = [], []
        for strength in strengths:
            disturbed = disturbances.disturb(name, images, strength,
                                             np.random.default_rng(2), other_images)
            result = evaluator.score(disturbed) if strength else clean
            fid.append(result['fid'])
            kid.append(result['kid'])
            rose = '' if len(fid) == 1 else ', '.join(
                [m for m, v in (('FID', fid), ('KID', kid)) if v[-1] > v[-2]]) or 'neither'
            row(name, f'{strength:g}', *cells(result), rose)
        fids[name] = dict(zip(strengths, fid))
        for metric, values in (('FID', fid), ('KID', kid)):
            if not rising(values):
                failed.append(f'{dataset} {name}: {metric} not rising '
                              f'({", ".join(f"{v:.4g}" for v in values)})')

    # Mode dropping: samples from the first 10 - d classes only.
    print('\nMode dropping: training images of classes 0 to 9 - d only.\n')
    head('classes dropped (d)', 'images', *COLUMNS)
    fid, coverage, covered = [], [], []
    for dropped in range(evaluator.num_classes):
        pool = fresh[train_labels[fresh] < evaluator.num_classes - dropped]
        kept = rng.choice(pool, min(args.samples, len(pool)), replace=False)
        result = evaluator.score(train[kept])
        fid.append(result['fid'])
        coverage.append(result['coverage'])
        covered.append(result['classes_covered'])
        row(str(dropped), f'{len(kept):,}', *cells(result))
    if not rising(fid):
        failed.append(f'{dataset} mode dropping: FID not rising')
    if not rising([-c for c in coverage]):
        failed.append(f'{dataset} mode dropping: coverage not falling')
    # Never more classes covered with fewer kept; not always exactly 10 - d: a kept
    # class's images that the judge takes for a dropped one can keep it covered.
    if any(a < b for a, b in zip(covered, covered[1:])) or covered[-1] >= covered[0]:
        failed.append(f'{dataset} mode dropping: classes covered {covered}')

    # Memorised copies: the remembered training images against new images.
    test_images = data.arrays(data.load(dataset, args.data_dir, manual, download=False,
                                        split='test'))[0]
    copies = train[remembered[:count]]
    quarter = count // 4
    mixed = np.concatenate([copies[:quarter], test_images[:count - quarter]])
    print('\nMemorised copies:\n')
    head('samples', 'images', *COLUMNS)
    for what, samples in (
            ('test images (never trained on; the reference itself)', test_images[:count]),
            (f'training images not among the {judge.MEMORY_IMAGES:,} remembered', None),
            ('copies of remembered training images', copies),
            ('a quarter copies, the rest test images', mixed)):
        result = clean if samples is None else evaluator.score(samples)
        row(what, f'{result["samples"]:,}', *cells(result))
        if what.startswith('copies') and result['memorised'] < 0.9:
            failed.append(f'{dataset}: copies memorised {result["memorised"]:.3f}')
        if what.startswith('test') and result['memorised'] > 0.05:
            failed.append(f'{dataset}: new images memorised {result["memorised"]:.3f}')

    unspeckled, speckled = fids['salt_and_pepper'][0], fids['salt_and_pepper'][0.02]
    verdict = 'worse than clean, as it must be' if speckled > unspeckled else 'NOT worse'
    print(f'\nHeadline: 2% salt-and-pepper FID {speckled:.2f} against clean '
          f'{unspeckled:.2f}: {verdict}.')
    if speckled <= unspeckled:
        failed.append(f'{dataset}: 2% salt-and-pepper scores no worse than clean')
    return failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           '..', 'shared', 'data')
    parser.add_argument('--data', default=default,
                        help="folder holding each dataset's original IDX files, in "
                             "mnist/ and fashion_mnist/ (default: shared/data beside "
                             'the checkout)')
    parser.add_argument('--data_dir', default='',
                        help='tensorflow-datasets data directory, where the judges '
                             'are cached (default: the one gan_tf.evaluate uses)')
    parser.add_argument('--samples', type=int, default=10_000,
                        help='images per row (at most 50,000)')
    parser.add_argument('--datasets', default=','.join(DATASETS),
                        help='comma-separated, of ' + ', '.join(DATASETS))
    args = parser.parse_args()
    datasets = args.datasets.split(',')
    for dataset in datasets:
        if dataset not in DATASETS:
            sys.exit(f'--datasets: {dataset} is not one of {", ".join(DATASETS)}')
    for dataset in DATASETS:  # each needs the other's images for mix_in
        path = os.path.join(args.data, dataset, 'train-images-idx3-ubyte.gz')
        if not os.path.isfile(path):
            sys.exit(f'{path} not found: pass --data=FOLDER, the folder holding '
                     "mnist/ and fashion_mnist/ with each dataset's original IDX files")
    if not 100 <= args.samples <= 50_000:
        sys.exit('--samples: 100 to 50,000')

    started = time.monotonic()
    failed = []
    for dataset in datasets:
        other = DATASETS[1 - DATASETS.index(dataset)]
        failed += validate(dataset, other, args)
    print(f'\n{time.monotonic() - started:.0f} s in all.')
    if failed:
        print('\nFailed:\n' + '\n'.join(f'- {f}' for f in failed))
        sys.exit(1)
    print('Every check passed.')


if __name__ == '__main__':
    main()
