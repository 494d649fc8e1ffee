"""A folder of images as training data: `--dataset=path/to/my_pictures`.

`load` finds every image below the folder, decodes each once into a cache under
the data directory (`gan_tf.data.cache`; never inside the folder) and streams
the cache. A later run with the same folder and options starts from the cache
in seconds; the cache is keyed by the folder's listing (every file's path,
size, modification time and permissions) and the options, so a changed folder
is prepared again, never silently reused.

Images are recognised by their first bytes (PNG, JPEG, BMP, GIF, WebP, TIFF;
any extension, or none). Everything else is skipped with a reason (`REASONS`),
counted in a summary at the start and listed in images.csv. Labels: when the
images sit in two or more top-level subfolders (and none beside them), those
are the classes, in sorted order (the convention of Keras'
image_dataset_from_directory and tfds' ImageFolder).
"""
import collections
import concurrent.futures
import csv
import errno
import hashlib
import io
import json
import os
import stat
import warnings

import numpy as np
from PIL import Image

from gan_tf.data import cache, images
from gan_tf.errors import UserError, first_line

# Why a file or folder is not used.
REASONS = {
    'hidden': 'name starts with "." (or __MACOSX): hidden',
    'not_image': 'not an image (text, sound, SVG, ...)',
    'unsupported': f'an image format other than {images.FORMATS}',
    'empty': 'an image file of zero bytes',
    'corrupt': 'does not decode (truncated or damaged)',
    'unreadable': 'no permission to read it',
    'too_small': 'smaller than 8 px on a side',
    'too_large': "over PIL's decompression-bomb limit",
    'duplicate': 'a second link to a file already used',
    'link_loop': 'a link to a folder it is inside',
    'broken_link': 'a link to nothing',
    'not_regular': 'a FIFO, socket or device',
    'no_images': 'a folder without images',
}
# Image files that fail: the run stops when they are most of the images.
BAD = ('empty', 'corrupt', 'unreadable', 'too_large')
MIN_SIDE = 8  # a 1x1 tracking pixel would become a flat square
AUTO_SIZES = (32, 64)  # 128 only when asked for: 4 times the compute of 64
SPLIT_NAMES = {'train', 'test', 'val', 'valid', 'validation'}
EXAMPLES_SHOWN = 3  # paths named per reason in the summary


class Entry:
    """A file or folder below the root, and what became of it."""

    def __init__(self, path, folder=False, status=None, reason=''):
        self.path = path  # relative; str, undecodable bytes as surrogates
        self.folder = folder
        self.status = status  # os.stat_result, following links; None if none
        self.reason, self.detail = reason, ''
        self.format, self.width, self.height, self.grey = '', 0, 0, False

    @property
    def kept(self):
        return not self.folder and not self.reason

    def key(self):
        """What the cache key sees of this entry."""
        s = self.status
        size, mtime, mode = (s.st_size, s.st_mtime_ns, s.st_mode) if s else (0, 0, 0)
        if self.folder:
            size = mtime = 0  # a folder's mtime changes when a hidden file appears
        return os.fsencode(self.path) + f'\0{self.folder} {size} {mtime} {mode} ' \
            f'{self.reason}\n'.encode()


def display(path):
    """A path for messages and images.csv: undecodable bytes as \\xNN."""
    return os.fsencode(path).decode('utf-8', 'backslashreplace')


def load(folder, data_dir, split='train', image_size=None, crop='centre', channels=None,
         background=(255, 255, 255), keep_alpha=False, quiet=False):
    """`ImageData`'s fields for the images below `folder`, prepared into the cache
    under `data_dir` when they are not there yet; see the module's docstring.
    `quiet`: no summary when the cache is there already."""
    root = _check_root(folder)
    if split != 'train':
        raise UserError(f'--dataset={folder} is a folder of images: it has one split, '
                        f'not {split!r}')
    base = os.path.realpath(cache.root(data_dir))
    if os.path.commonpath([base, root]) == root:
        raise UserError(f'--data_dir={data_dir} lies inside --dataset={folder}: the '
                        "cache would land among your images; choose another --data_dir")
    options = dict(image_size=image_size, crop=crop, channels=channels,
                   background=list(background), keep_alpha=keep_alpha)
    entries = list_folder(root)
    digest = hashlib.sha256(json.dumps([cache.VERSION, options]).encode())
    for entry in entries:
        if entry.reason != 'hidden':  # a new .DS_Store must not re-prepare
            digest.update(entry.key())
    key = digest.hexdigest()
    path = os.path.join(base, f'{_safe_name(root)}-{key[:16]}')
    manifest = cache.find(path, key)
    prepared = manifest is None
    if prepared:
        manifest = prepare(root, entries, path, key, **options)
    if prepared or not quiet:
        report(folder, manifest, path, prepared)
    shape = manifest['image_shape']
    return dict(examples=cache.stream(path, manifest),
                num_examples=manifest['num_examples'], image_shape=tuple(shape),
                source='folder' if prepared else 'cache', detail=f'{root} (cache {path})',
                num_classes=len(manifest['class_names']),
                class_names=tuple(manifest['class_names']),
                in_memory=fits_in_memory(manifest['num_examples'], shape),
                listing=os.path.join(path, 'images.csv'), key=key,
                cache_files=(path, manifest))


def fits_in_memory(num_examples, image_shape):
    """Whether training may hold these uint8 images in memory (`memory_budget`);
    else they stream from their files."""
    return num_examples * int(np.prod(image_shape)) <= memory_budget()


def memory_budget():
    """Bytes of images that training may hold in memory: a quarter of this
    machine's memory, at most 2 GiB; larger folders stream from the cache."""
    try:
        memory = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    except (ValueError, OSError):
        memory = 8 << 30
    return min(2 << 30, memory // 4)


def _check_root(folder):
    try:
        status = os.stat(folder)
    except FileNotFoundError:
        raise UserError(f'--dataset={folder}: no such folder; give a folder of images '
                        'or a tensorflow-datasets name') from None
    except OSError as e:  # a link loop, a permission on the way
        raise UserError(f'--dataset={folder}: cannot open it ({e.strerror})') from None
    if not stat.S_ISDIR(status.st_mode):
        raise UserError(f'--dataset={folder} is a file, not a folder: give the folder '
                        'that holds your images')
    if not os.access(folder, os.R_OK | os.X_OK):
        raise UserError(f'--dataset={folder}: no permission to read the folder; '
                        f'fix it with chmod -R u+rX {folder}')
    return os.path.realpath(folder)


def _safe_name(root):
    name = ''.join(c if c.isalnum() or c in '._-' else '_' for c in
                   display(os.path.basename(root)))
    return name.strip('.')[:40] or 'folder'


# ------------------------------------------------------------------- finding images

def list_folder(root):
    """Every file and folder below `root`, sorted by name, each `stat`ed but not
    opened (cheap: it runs at every start, for the cache key). Links to folders
    are followed, except back into a folder being listed ('link_loop'); a file
    reached twice (links) is used once ('duplicate')."""
    entries, seen = [], set()

    def walk(folder, relative, ancestors, this=None):
        try:
            with os.scandir(folder) as children:
                children = sorted(children, key=lambda c: os.fsencode(c.name))
        except OSError as e:
            if this is None:  # the root itself
                raise UserError(f'--dataset={folder}: cannot list it ({e.strerror})'
                                ) from None
            this.reason, this.detail = _os_reason(e), e.strerror or ''
            return
        for child in children:
            path = os.path.join(relative, child.name) if relative else child.name
            if child.name.startswith('.') or child.name == '__MACOSX':
                entries.append(Entry(path, _is_folder(child), reason='hidden'))
                continue
            try:
                status = child.stat()  # follows links
            except OSError as e:
                broken = e.errno == errno.ENOENT and child.is_symlink()
                entries.append(Entry(path, reason='broken_link' if broken
                                     else _os_reason(e)))
                continue
            identity = (status.st_dev, status.st_ino)
            if stat.S_ISDIR(status.st_mode):
                if identity in ancestors:
                    entries.append(Entry(path, True, status, 'link_loop'))
                else:
                    entries.append(Entry(path, True, status))
                    walk(child.path, path, ancestors | {identity}, entries[-1])
            elif not stat.S_ISREG(status.st_mode):  # opening a FIFO would block
                entries.append(Entry(path, False, status, 'not_regular'))
            else:
                entries.append(Entry(path, False, status,
                                     'duplicate' if identity in seen else ''))
                seen.add(identity)

    status = os.stat(root)
    walk(root, '', frozenset({(status.st_dev, status.st_ino)}))
    return entries


def _is_folder(child):
    try:
        return child.is_dir()
    except OSError:
        return False


def _os_reason(error):
    return 'unreadable' if isinstance(error, PermissionError) else 'corrupt'


def inspect(root, entry):
    """Reads a regular file's first bytes and, for an image, its header (size,
    mode): sets `entry`'s format and size, or its skip reason."""
    extension = os.path.splitext(entry.path)[1].lower()
    try:
        with open(os.path.join(root, entry.path), 'rb') as f:
            head = f.read(32)
            entry.format = images.sniff(head)
            if not entry.format:
                if extension in images.EXTENSIONS:
                    entry.reason = 'corrupt' if head else 'empty'
                    entry.detail = f'not {images.EXTENSIONS[extension]} data' if head else ''
                elif extension in images.OTHER_IMAGE_EXTENSIONS and head:
                    entry.reason, entry.detail = 'unsupported', extension[1:].upper()
                else:
                    entry.reason = 'not_image'
                return
            f.seek(0)
            with warnings.catch_warnings():  # (in the main thread only)
                warnings.simplefilter('ignore')  # PIL's large-image warning
                image = Image.open(f, formats=[entry.format])
                entry.width, entry.height = image.size
                entry.grey = images.is_grey(image)
    except Exception as e:  # PIL raises many types for a bad header
        _failed(entry, e)
        return
    if min(entry.width, entry.height) < MIN_SIDE:
        entry.reason, entry.detail = 'too_small', f'{entry.width}x{entry.height}'


def _failed(entry, error):
    if isinstance(error, PermissionError):
        entry.reason, entry.detail = 'unreadable', error.strerror
    elif isinstance(error, Image.DecompressionBombError):
        entry.reason, entry.detail = 'too_large', first_line(error)
    else:
        entry.reason = 'corrupt'
        entry.detail = ('PIL cannot identify it' if isinstance(
            error, Image.UnidentifiedImageError) else first_line(error))


def _top(entry):
    """The top-level folder an entry sits in ('' at the top level)."""
    parts = os.fsencode(entry.path).split(b'/', 1)
    return os.fsdecode(parts[0]) if len(parts) > 1 else ''


def class_names(kept, notes):
    """The classes of the kept images: their top-level folders when there are
    two or more and no image beside them; else [] (unlabelled)."""
    tops = sorted({_top(e) for e in kept} - {''}, key=os.fsencode)
    beside = sum(1 for e in kept if not _top(e))
    if len(tops) < 2:
        return []
    if beside:
        notes.append(f'{beside} images sit beside {len(tops)} subfolders of images: all '
                     'are used, without labels; move them into subfolders to use the '
                     'subfolders as classes (--conditional)')
        return []
    if set(tops) <= SPLIT_NAMES:
        notes.append(f'the classes are {", ".join(tops)}: if these are splits, point '
                     '--dataset at the training folder')
    return tops


def choose_size(kept):
    """The largest of AUTO_SIZES not above the median image's short side (the
    smallest when none is): most images shrink, few are enlarged more than 2x,
    and a few thumbnails or huge photos do not move it."""
    median = float(np.median([min(e.width, e.height) for e in kept]))
    return max([s for s in AUTO_SIZES if s <= median] or [AUTO_SIZES[0]]), median


# ------------------------------------------------------------------- preparing

def prepare(root, entries, path, key, image_size, crop, channels, background,
            keep_alpha):
    """Decodes the images of `entries` into a new cache at `path`; returns its
    manifest. UserError when there is no image or most image files are broken."""
    files = [e for e in entries if not e.folder and not e.reason]
    for entry in files:
        inspect(root, entry)
    kept = [e for e in files if e.kept]
    if not kept:
        raise UserError(_nothing_found(root, entries))
    notes = []
    names = class_names(kept, notes)
    size_note = ''
    if image_size is None:
        image_size, median = choose_size(kept)
        size_note = (f'--image_size={image_size} chosen from the median image '
                     f'({median:.0f} px on its short side)'
                     + ('; --image_size=128 for more detail, at 4 times the '
                        'compute of 64' if median >= 128 else ''))
    auto_grey = channels is None and all(e.grey for e in kept)
    pixels = images.Pixels(image_size, 1 if auto_grey else channels or 3, crop,
                           tuple(background), keep_alpha)
    _check_space(path, len(kept) * int(np.prod(pixels.shape)))
    # A fixed shuffle of the writing order: every shard mixes all classes, so a
    # stream of a few shards at a time is mixed too.
    order = np.random.default_rng(int(key[:8], 16)).permutation(len(kept))
    kept = [kept[i] for i in order]
    looks_grey = True
    with cache.Writer(path, key, pixels.shape) as writer:
        progress = cache.Progress(len(kept), f'preparing {display(root)} at '
                                  f'{"x".join(map(str, pixels.shape))}')
        for entry, image in _decoded(root, kept, pixels):
            if image is not None:
                writer.add(image, names.index(_top(entry)) if names else -1)
                looks_grey = looks_grey and images.looks_grey(image)
            progress.update()
        progress.close()
        decoded = [e for e in kept if e.kept]
        bad = [e for e in entries if not e.folder and e.reason in BAD]
        if not decoded:
            raise UserError(_nothing_found(root, entries))
        if len(bad) > len(decoded):
            raise UserError(
                f'{len(bad)} of {len(bad) + len(decoded)} image files in {display(root)} '
                f'are broken ({_counts(bad)}), e.g. {_examples(bad)}: training on the '
                f'{len(decoded)} others would not represent the folder; repair or '
                'remove them')
        present = sorted({_top(e) for e in decoded}, key=os.fsencode) if names else []
        if present != names:  # a class whose every file is broken
            notes.append('classes without a readable image, left out: '
                         + ', '.join(display(n) for n in names if n not in present))
            writer.labels = [present.index(names[label]) for label in writer.labels]
            names = present if len(present) >= 2 else []
            if not names:
                writer.labels = [-1] * len(writer.labels)
        if channels is None and not keep_alpha and pixels.channels == 3 and looks_grey:
            writer.to_grey()  # grey pictures stored in colour (WebP, many JPEGs)
        _mark_folders_without_images(entries)
        skipped = [e for e in entries if e.reason]
        return writer.commit(
            files={'images.csv': _listing(entries)}, source=display(root),
            class_names=[display(n) for n in names], size_note=size_note,
            notes=notes, skipped=dict(collections.Counter(e.reason for e in skipped)),
            skipped_examples={reason: [display(e.path) for e in skipped
                                       if e.reason == reason][:EXAMPLES_SHOWN]
                              for reason in REASONS})


def _decoded(root, kept, pixels, threads=4, chunk=64):
    """(entry, uint8 image or None) for each of `kept`, in order, decoded by a
    few threads (PIL releases the GIL while decoding and resizing); a failure
    sets the entry's reason."""
    def decode(entry):
        try:
            return images.read(os.path.join(root, entry.path), pixels, entry.format)
        except Exception as e:  # truncated, damaged: PIL raises many types
            _failed(entry, e)
            return None

    # Warning filters are the process's: set here, never in the threads (where
    # catch_warnings would restore each other's, leaving them changed).
    with warnings.catch_warnings(), concurrent.futures.ThreadPoolExecutor(
            min(threads, os.cpu_count() or 1)) as pool:
        warnings.simplefilter('ignore')  # PIL's notes on odd files
        for start in range(0, len(kept), chunk):
            part = kept[start:start + chunk]
            yield from zip(part, pool.map(decode, part))


def _check_space(path, needed):
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    except OSError as e:
        raise UserError(f'cannot prepare the images in {folder} ({e.strerror}): choose '
                        'another --data_dir') from None
    if needed > free:
        raise UserError(f'{folder} has {free >> 20} MiB free; the decoded images need '
                        f'{needed >> 20} MiB: free some, or choose another --data_dir')


def _mark_folders_without_images(entries):
    with_images = set()
    for entry in entries:
        if entry.kept:
            parts = os.fsencode(entry.path).split(b'/')[:-1]
            with_images.update(b'/'.join(parts[:i]) for i in range(1, len(parts) + 1))
    for entry in entries:
        if entry.folder and not entry.reason and os.fsencode(entry.path) not in with_images:
            entry.reason = 'no_images'


def _listing(entries):
    """images.csv: every file and folder, kept or skipped, and why."""
    text = io.StringIO()
    out = csv.writer(text)
    out.writerow(['path', 'status', 'reason', 'detail'])
    for e in entries:
        if e.folder and not e.reason:
            continue  # a folder with images: its files are listed
        out.writerow([display(e.path) + ('/' if e.folder else ''),
                      'skipped' if e.reason else 'kept', e.reason,
                      e.detail or REASONS.get(e.reason, '')])
    return text.getvalue()


def _counts(entries):
    counts = collections.Counter(e.reason for e in entries)
    return ', '.join(f'{n} {reason}' for reason, n in sorted(counts.items()))


def _examples(entries):
    return ', '.join(display(e.path) for e in entries[:EXAMPLES_SHOWN])


def _nothing_found(root, entries):
    skipped = [e for e in entries if e.reason and not e.folder]
    what = (f'{_counts(skipped)}: {_examples(skipped)}' if skipped else
            'no files at all')
    return (f'no usable images in --dataset={display(root)} ({what}); it takes '
            f'{images.FORMATS} files, in it or in its subfolders')


# ------------------------------------------------------------------- reporting

def report(folder, manifest, path, prepared):
    """The summary at the start of a run: images found, classes, size, and what
    was skipped and why (a few paths per reason; images.csv has them all)."""
    count = manifest['num_examples']
    names = manifest['class_names']
    labels = (f'{len(names)} classes (subfolders): {", ".join(names[:10])}'
              f'{", ..." if len(names) > 10 else ""}' if names else
              'unlabelled (no class subfolders)')
    shape = 'x'.join(map(str, manifest['image_shape']))
    how = 'prepared now' if prepared else 'prepared earlier'
    print(f'--dataset={folder}: {count:,} images, {labels}; {shape} ({how}: {path})',
          flush=True)
    if manifest['size_note']:
        print(f'  {manifest["size_note"]}', flush=True)
    skipped = manifest['skipped']
    if skipped:
        total = sum(skipped.values())
        print(f'  skipped {total:,}: ' + '; '.join(
            f'{n} {reason} ({", ".join(manifest["skipped_examples"][reason])}'
            f'{", ..." if n > EXAMPLES_SHOWN else ""})'
            for reason, n in sorted(skipped.items())) +
            f'. Every file and why: {os.path.join(path, "images.csv")}', flush=True)
    bad = sum(skipped.get(reason, 0) for reason in BAD)
    if bad:
        warnings.warn(f'{bad} image files in --dataset={folder} are broken and left '
                      'out (see the summary above)')
    for note in manifest['notes']:
        warnings.warn(note)
