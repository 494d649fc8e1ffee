"""Images decoded once, at the training size, kept under the data directory.

    <data_dir>/gan_tf_images/<name>-<key>/
        images-00000.npy ...   uint8 [n, h, w, c] shards of at most 64 MiB
        labels.npy             int32 [all n], -1 where unlabelled
        images.csv             (folders) every file, kept or skipped, and why
        manifest.json          written last: the cache is complete

`Writer` writes into a temporary folder beside the final one and renames it into
place only once every file is written and synced, so a killed run or a full
disk never leaves a cache that `find` would accept; `find` also checks every
shard's size. `stream` reads the shards with tf.data (a .npy file is a header
followed by fixed-length records), so a cache larger than memory streams.

Why .npy and not TFRecord: as fast to write and to stream here (no protobuf
parsing), readable by numpy alone (`np.load(shard, mmap_mode='r')`), and its
completeness is checked from file sizes.
"""
import errno
import json
import os
import re
import shutil
import sys
import time
import uuid

import numpy as np
import tensorflow as tf

from gan_tf.errors import UserError

VERSION = 1  # bump when decoding or the layout changes: older caches are not used
FOLDER = 'gan_tf_images'
MANIFEST = 'manifest.json'
SHARD_BYTES = 64 << 20


def root(data_dir):
    return os.path.join(data_dir, FOLDER)


def find(path, key):
    """The manifest of the complete cache at `path` made for `key`, else None."""
    try:
        with open(os.path.join(path, MANIFEST)) as f:
            manifest = json.load(f)
        if manifest['version'] != VERSION or manifest['key'] != key:
            return None
        record = int(np.prod(manifest['image_shape']))
        for shard in manifest['shards']:
            size = os.path.getsize(os.path.join(path, shard['file']))
            if size != shard['offset'] + shard['count'] * record:
                return None
        count = manifest['num_examples']
        if sum(s['count'] for s in manifest['shards']) != count or len(
                np.load(os.path.join(path, 'labels.npy'))) != count:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return manifest


class Writer:
    """Writes a cache at `path`, image by image (`add`), made whole by `commit`.

    Used as a context manager: leaving it without `commit` (an error, Ctrl-C)
    deletes the temporary folder. A full disk is a UserError naming --data_dir.
    """

    def __init__(self, path, key, shape):
        self.path, self.key, self.shape = path, key, tuple(shape)
        self.per_shard = max(1, SHARD_BYTES // int(np.prod(shape)))
        self.shards, self.buffer, self.labels = [], [], []
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _remove_abandoned(os.path.dirname(path))
        self.temporary = f'{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}'

    def __enter__(self):
        self._io(os.makedirs, self.temporary)
        return self

    def __exit__(self, *error):
        shutil.rmtree(self.temporary, ignore_errors=True)

    def add(self, image, label=-1):
        self.buffer.append(image)
        self.labels.append(label)
        if len(self.buffer) == self.per_shard:
            self._flush()

    def _flush(self):
        if self.buffer:
            self.shards.append(self._io(_write_shard, self.temporary, len(self.shards),
                                        np.stack(self.buffer)))
            self.buffer = []

    def to_grey(self):
        """Rewrites every image as one channel (ITU-R 601 luma, as PIL's
        convert('L')): for grey pictures stored in colour."""
        self._flush()
        self.shape = (*self.shape[:2], 1)
        for i, shard in enumerate(self.shards):
            path = os.path.join(self.temporary, shard['file'])
            rgb = np.load(path).astype(np.float32)
            grey = np.rint(rgb @ np.float32([0.299, 0.587, 0.114]))[..., None]
            self.shards[i] = self._io(_write_shard, self.temporary, i,
                                      grey.astype(np.uint8))

    def commit(self, files=None, **manifest):
        """Writes the labels, `files` ({name: text}) and the manifest (the
        shape, counts and `manifest`), then puts the cache in place; returns the
        manifest. Another process that finished the same cache first wins."""
        self._flush()
        manifest = dict(version=VERSION, key=self.key, image_shape=list(self.shape),
                        num_examples=len(self.labels), shards=self.shards,
                        created=time.time(), **manifest)

        def write_all():
            np.save(os.path.join(self.temporary, 'labels.npy'),
                    np.asarray(self.labels, np.int32))
            for name, text in {**(files or {}),
                               MANIFEST: json.dumps(manifest, indent=1)}.items():
                with open(os.path.join(self.temporary, name), 'w', encoding='utf-8',
                          newline='') as f:
                    f.write(text)
            for name in os.listdir(self.temporary):
                _sync(os.path.join(self.temporary, name))
            _sync(self.temporary)
            if os.path.isdir(self.path) and find(self.path, self.key) is None:
                shutil.rmtree(self.path)  # damaged or half-deleted: replaced
            try:
                os.rename(self.temporary, self.path)  # the commit
            except OSError as e:
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
            _sync(os.path.dirname(self.path))
        self._io(write_all)
        return find(self.path, self.key) or manifest

    def _io(self, function, *args):
        try:
            return function(*args)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise UserError(f'no space left in {os.path.dirname(self.path)} for '
                                'the decoded images: free some, or choose another '
                                '--data_dir') from None
            if isinstance(e, PermissionError):
                raise UserError(f'cannot write to {os.path.dirname(self.path)} '
                                '(permission denied): choose a writable --data_dir'
                                ) from None
            raise


def _write_shard(folder, number, images):
    name = f'images-{number:05d}.npy'
    with open(os.path.join(folder, name), 'wb') as f:
        np.lib.format.write_array(f, images, allow_pickle=False)
        size = f.tell()
    offset = size - images.nbytes  # the header's length: where the pixels start
    return dict(file=name, count=len(images), offset=offset)


def _sync(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove_abandoned(folder):
    """Deletes temporary folders of writers that no longer run (killed)."""
    for name in os.listdir(folder):
        match = re.search(r'\.tmp-(\d+)-\w+$', name)
        if match and not _running(int(match.group(1))):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def stream(path, manifest, part=(0, 1)):
    """The cache's examples, {'image': uint8 [h, w, c], 'label': int32}, in the
    order written, read from the shards (a few at a time, interleaved).
    `part`: (index, count): only every count-th shard from the index-th on,
    what one of `count` workers reads."""
    h, w, c = manifest['image_shape']
    labels = np.load(os.path.join(path, 'labels.npy'))
    starts = np.cumsum([0] + [s['count'] for s in manifest['shards']])
    index, count = part
    shards = manifest['shards'][index::count]
    starts, ends = starts[:-1][index::count], starts[1:][index::count]

    def read(file, offset, start, end):
        images = tf.data.FixedLengthRecordDataset(file, h * w * c, header_bytes=offset)
        return tf.data.Dataset.zip(images, tf.data.Dataset.from_tensor_slices(
            tf.constant(labels)[start:end]))

    def decode(raw, label):
        return {'image': tf.reshape(tf.io.decode_raw(raw, tf.uint8), (h, w, c)),
                'label': label}

    files = tf.data.Dataset.from_tensor_slices((
        [os.path.join(path, s['file']) for s in shards],
        np.int64([s['offset'] for s in shards]), starts, ends))
    examples = files.interleave(read, cycle_length=min(4, len(shards)),
                                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return (examples.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
            .apply(tf.data.experimental.assert_cardinality(
                int(sum(s['count'] for s in shards)))))


class Progress:
    """A one-line progress bar on stderr; on a log (not a terminal), a line at
    each tenth."""

    def __init__(self, total, label):
        self.total, self.label, self.done = total, label, 0
        self.start = self.drawn = time.perf_counter()
        self.terminal = sys.stderr.isatty()
        self.next_tenth = 1

    def update(self):
        self.done += 1
        now = time.perf_counter()
        if self.terminal and (now - self.drawn > 0.2 or self.done == self.total):
            self.drawn = now
            self._draw(now, '\r', '')
        elif not self.terminal and self.done * 10 >= self.next_tenth * self.total:
            self.next_tenth = self.done * 10 // self.total + 1
            self._draw(now, '', '\n')

    def _draw(self, now, start, end):
        seconds = now - self.start
        rate = self.done / seconds if seconds else 0
        left = (self.total - self.done) / rate if rate else 0
        bar = '#' * (30 * self.done // self.total)
        sys.stderr.write(f'{start}{self.label} [{bar:.<30}] {self.done:,}/{self.total:,} '
                         f'{rate:,.0f} images/s, {seconds:.0f}s<{left:.0f}s{end}')
        sys.stderr.flush()

    def close(self):
        if self.terminal and self.done:
            sys.stderr.write('\n')
