"""Training on a folder of images (`--dataset=path/to/my_pictures`): finding the
images, their pixels, sizes and labels, the cache, every kind of bad input, and
a whole run through the main command on real colour images."""
import collections
import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

import image_folders
from conftest import REPO, error_of, run_cli
from gan_tf import Config, registry
from gan_tf import data as gan_data
from gan_tf.data import cache, folder, images
from gan_tf.errors import UserError

WHITE = (255, 255, 255)


def load(root, data_dir, **options):
    return gan_data.load(str(root), str(data_dir), **options)


def listing(data):
    """{path: (status, reason)} of a folder's images.csv."""
    with open(data.listing, newline='', encoding='utf-8') as f:
        return {row['path']: (row['status'], row['reason']) for row in csv.DictReader(f)}


def reasons(data):
    return dict(collections.Counter(r for s, r in listing(data).values() if s == 'skipped'))


def arrays(data):
    examples = list(data.examples.as_numpy_iterator())
    return (np.stack([e['image'] for e in examples]),
            np.array([e['label'] for e in examples]))


# ----------------------------------------------------------------- which source

def test_dataset_names_a_folder_or_a_tfds_dataset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'mnist').mkdir()
    assert registry.data_source('mnist') == ('folder', 'mnist')  # the folder here
    assert registry.data_source('tfds:mnist') == ('tfds', 'mnist')
    assert registry.data_source('cifar10') == ('tfds', 'cifar10')
    assert registry.data_source('photos/') == ('folder', 'photos/')  # missing: a path
    assert registry.data_source('~/x')[1] == os.path.expanduser('~/x')
    # A run's default name is one safe folder name, never a path.
    for dataset, name in [('/home/me/My Photos/', 'My_Photos'), ('.', tmp_path.name),
                          ('../a/b/cats', 'cats'), ('mnist', 'mnist')]:
        assert Config(dataset=dataset, arch='dcgan').run_dir_name == f'{name}-dcgan-non_saturating'


def test_a_name_that_is_both_says_which_was_used(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    image_folders.Folder(tmp_path / 'mnist').save('a.png', Image.new('RGB', (32, 32)))
    data = gan_data.load('mnist', str(tmp_path / 'data'))
    assert data.num_examples == 1 and data.image_shape == (32, 32, 1)
    assert (f'--dataset=mnist: the folder {tmp_path}/mnist, not the tensorflow-datasets '
            'dataset (--dataset=tfds:mnist for that)') in capsys.readouterr().out


@pytest.mark.parametrize('options, message', [
    (dict(image_size=48), '--image_size=48: choose one of 32, 64, 128'),
    (dict(crop='center'), '--crop=center: choose one of centre, pad, stretch'),
    (dict(channels=2), '--channels=2: choose one of 1, 3'),
    (dict(background='blurple'), '--background=blurple: not a colour'),
])
def test_image_options_are_checked_before_tensorflow(options, message):
    with pytest.raises(UserError, match=message):
        Config(**options)


# ----------------------------------------------------------------- finding images

def test_messy_folder_every_file_kept_or_skipped_with_its_reason(tmp_path, capsys):
    made = image_folders.messy(tmp_path / 'messy', image_folders.emoji(36))
    before = image_folders.snapshot(made.root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        data = load(made.root, tmp_path / 'data', image_size=32)
    assert data.num_examples == made.kept == 31
    assert data.image_shape == (32, 32, 3) and data.num_classes == 0
    assert reasons(data) == made.skipped
    files = listing(data)
    assert files['names/caf\\xe9.png'] == ('kept', '')  # non-UTF-8: escaped
    assert files['names/line\nbreak.png'] == ('kept', '')
    assert files['links/loop/'] == ('skipped', 'link_loop')
    assert files['special/pipe.png'] == ('skipped', 'not_regular')
    assert files['broken/truncated.jpg'] == ('skipped', 'corrupt')
    assert files['.thumbnails/'] == ('skipped', 'hidden')
    out = capsys.readouterr().out
    assert f'--dataset={made.root}: 31 images, unlabelled' in out
    assert '4 corrupt (' in out and 'broken/truncated.png' in out
    assert [str(w.message) for w in caught] == [
        f'5 image files in --dataset={made.root} are broken and left out (see the '
        'summary above)',
        '6 images sit beside 7 subfolders of images: all are used, without labels; '
        'move them into subfolders to use the subfolders as classes (--conditional)']
    assert image_folders.snapshot(made.root) == before  # nothing touched
    assert not any(name.endswith('.npy') for name in os.listdir(made.root))


def test_subfolders_are_classes_and_grey_images_one_channel(tmp_path):
    made = image_folders.labelled_digits(tmp_path / 'digits', per_class=3)
    data = load(made.root, tmp_path / 'data')
    assert data.num_examples == made.kept == 30
    assert data.class_names == tuple(str(d) for d in range(10)) and data.num_classes == 10
    assert data.image_shape == (32, 32, 1)  # auto: 28 px digits -> 32, all grey
    assert reasons(data) == made.skipped
    pictures, labels = arrays(data)
    assert sorted(np.bincount(labels)) == [3] * 10
    # Each image is its digit, whatever its encoding: against the digit itself.
    digits, digit_labels = image_folders.mnist(3)
    by_digit = {d: [images.fit(x, images.Pixels(32, 1)) for x in digits[digit_labels == d]]
                for d in range(10)}
    for picture, label in zip(pictures, labels):
        error = min(np.abs(picture.astype(float) - d).mean() for d in by_digit[label])
        assert error < 12, label  # 1-bit and 16-level palette files lose some
    # --channels=3 overrides the folder's own (another cache, in another order):
    # grey stays grey in R, G and B (WebP and JPEG store grey as colour: within 2).
    coloured, coloured_labels = arrays(load(made.root, tmp_path / 'data', channels=3))
    assert coloured.shape == (30, 32, 32, 3)
    assert np.abs(np.diff(coloured.astype(int), axis=-1)).max() <= 2
    assert sorted(coloured_labels) == sorted(labels)


def test_images_beside_class_folders_make_it_unlabelled_with_a_warning(tmp_path):
    f = image_folders.Folder(tmp_path / 'mixed')
    for i, picture in enumerate(image_folders.emoji(6)):
        f.save(['top.png', 'cats/a.png', 'cats/b.png', 'dogs/a.png', 'dogs/b.png',
                'one_class_only/x.png'][i], picture)
    with pytest.warns(UserWarning, match='1 images sit beside 3 subfolders of images: all '
                      'are used, without labels'):
        data = load(f.root, tmp_path / 'data')
    assert data.num_examples == 6 and data.num_classes == 0
    with pytest.raises(UserError, match='no class labels'):
        next(iter(gan_data.train_batches(data, 2, 0, labels=True)))


# ----------------------------------------------------------------- pixels

def decoded(path, **pixels):
    return images.read(path, images.Pixels(**{'size': 64, **pixels})).astype(float)


def reference(rgba, background=WHITE, grey=False, size=64):
    under = Image.new('RGBA', rgba.size, (*background, 255))
    picture = Image.alpha_composite(under, rgba).convert('L' if grey else 'RGB')
    return images.fit(np.asarray(picture), images.Pixels(size, 1 if grey else 3)
                      ).astype(float)


def test_pixels_of_every_mode_match_the_original(tmp_path):
    source = image_folders.emoji(10)
    f = image_folders.Folder(tmp_path)
    white = image_folders.on_white
    for extension in ('jpg', 'png', 'webp'):  # stored turned; EXIF turns it back
        stored, exif = image_folders.exif_rotated(white(source[0]), 6)
        f.save(f'exif.{extension}', stored, exif=exif, quality=95, lossless=True)
        assert np.abs(decoded(f.path(f'exif.{extension}')) - reference(source[0])).mean() < 3
        upright = images.fit(np.asarray(stored), images.Pixels(64))
        assert np.abs(upright - reference(source[0])).mean() > 20
    f.save('cmyk.jpg', white(source[1]).convert('CMYK'), quality=95)
    assert np.abs(decoded(f.path('cmyk.jpg')) - reference(source[1])).mean() < 3
    image_folders.png16(f.path('grey16.png'),
                        np.asarray(white(source[2]).convert('L'), np.uint16) * 257)
    assert np.abs(decoded(f.path('grey16.png'), channels=1) -
                  reference(source[2], grey=True)).mean() < 1  # scaled, not clipped
    image_folders.png16(f.path('rgb16.png'), np.asarray(white(source[2]), np.uint16) * 257)
    assert np.abs(decoded(f.path('rgb16.png')) - reference(source[2])).mean() < 1
    f.save('palette.png', image_folders.palette_with_transparency(source[3]))
    assert np.abs(decoded(f.path('palette.png')) - reference(source[3])).mean() < 4
    la = Image.merge('LA', (source[4].convert('L'), source[4].getchannel('A')))
    f.save('la.png', la)
    assert np.abs(decoded(f.path('la.png'), channels=1) -
                  reference(source[4], grey=True)).mean() < 2
    f.save('rgba.png', source[5])
    on_black = decoded(f.path('rgba.png'), background=(0, 0, 0))
    assert np.abs(on_black - reference(source[5], (0, 0, 0))).mean() < 1
    assert np.abs(decoded(f.path('rgba.png')) - reference(source[5])).mean() < 1
    kept = decoded(f.path('rgba.png'), keep_alpha=True)
    assert kept.shape == (64, 64, 4) and kept[0, 0, 3] == 0 and kept[32, 32, 3] == 255
    f.save('one_bit.png', white(source[6]).convert('1'))
    assert decoded(f.path('one_bit.png'), channels=1).shape == (64, 64, 1)
    source[7].save(f.path('anim.gif'), save_all=True, append_images=[source[8]])
    assert np.abs(decoded(f.path('anim.gif')) - reference(source[7])).mean() < 8


@pytest.mark.parametrize('crop', ['centre', 'pad', 'stretch'])
def test_crop_policies(crop, tmp_path):
    thirds = np.zeros((40, 120, 3), np.uint8)  # red, green, blue thirds
    for i in range(3):
        thirds[:, 40 * i:40 * (i + 1), i] = 255
    square = images.fit(thirds, images.Pixels(32, crop=crop, background=(0, 0, 0)))
    assert square.shape == (32, 32, 3)
    middle_row, top_row = square[16].astype(int), square[0].astype(int)
    if crop == 'centre':  # the green third alone
        assert (square[..., 1] > 250).all() and (square[..., [0, 2]] < 5).all()
    elif crop == 'pad':  # the whole picture in a band, black above and below
        assert top_row.max() == 0 and middle_row[2, 0] > 250 and middle_row[-3, 2] > 250
    else:  # the whole picture, squashed: no padding
        assert top_row[2, 0] > 250 and top_row[16, 1] > 250 and top_row[-3, 2] > 250


def test_antialiased_downscaling(tmp_path):
    """A one-pixel checkerboard shrinks to flat grey (aliasing would keep
    black and white pixels)."""
    board = (np.indices((128, 128)).sum(axis=0) % 2 * 255).astype(np.uint8)
    small = images.fit(board[..., None], images.Pixels(32, channels=1))
    assert np.abs(small.astype(int) - 128).max() <= 2


# ----------------------------------------------------------------- the cache

def test_cache_reused_until_the_folder_changes(tmp_path):
    f = image_folders.Folder(tmp_path / 'pictures')
    for i, picture in enumerate(image_folders.emoji(5)):
        f.save(f'{i}.png', picture)
    data_dir = tmp_path / 'data'

    def source(**options):
        return load(f.root, data_dir, image_size=32, **options).source

    assert source() == 'folder'  # decoded now
    assert source() == 'cache'
    (tmp_path / 'pictures' / '.DS_Store').write_bytes(b'x')  # hidden: ignored
    assert source() == 'cache'
    os.utime(f.path('0.png'), ns=(1, 1))  # a changed mtime
    assert source() == 'folder'
    with open(f.path('1.png'), 'ab') as out:  # a changed size
        out.write(b'\0')
    assert source() == 'folder'
    assert source(crop='pad') == 'folder' and source(crop='pad') == 'cache'
    shutil.copy(f.path('2.png'), f.path('new.png'))
    data = load(f.root, data_dir, image_size=32)
    assert data.source == 'folder' and data.num_examples == 6
    os.remove(f.path('new.png'))
    assert source() == 'cache'  # the earlier listing's cache, still whole


def test_a_half_written_cache_is_never_used(tmp_path, monkeypatch):
    f = image_folders.Folder(tmp_path / 'pictures')
    for i, picture in enumerate(image_folders.emoji(4)):
        f.save(f'{i}.png', picture)
    data_dir = tmp_path / 'data'
    root = cache.root(str(data_dir))
    real_read, calls = images.read, []

    def killed_midway(*args, **kwargs):  # as Ctrl-C or a crash while decoding
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_read(*args, **kwargs)
    monkeypatch.setattr(images, 'read', killed_midway)
    with pytest.raises(KeyboardInterrupt):
        load(f.root, data_dir)
    assert os.listdir(root) == []  # the temporary folder is gone
    monkeypatch.undo()
    # A killed process's temporary folder (SIGKILL: no clean-up) is removed.
    os.makedirs(os.path.join(root, 'pictures-0123456789abcdef.tmp-999999999-dead'))
    data = load(f.root, data_dir)
    assert data.source == 'folder' and data.num_examples == 4
    [made] = os.listdir(root)
    path = os.path.join(root, made)
    # A shard cut short (a full disk, a copy interrupted): prepared again.
    shard = os.path.join(path, 'images-00000.npy')
    os.truncate(shard, os.path.getsize(shard) - 10)
    assert load(f.root, data_dir).source == 'folder'
    os.remove(os.path.join(path, cache.MANIFEST))  # no manifest: not complete
    assert load(f.root, data_dir).source == 'folder'
    assert os.listdir(root) == [made]


def test_a_large_folder_streams_with_a_bounded_shuffle(tmp_path, monkeypatch):
    f = image_folders.Folder(tmp_path / 'pictures')
    for i, picture in enumerate(image_folders.emoji(12)):
        f.save(f'{i}.png', picture)
    monkeypatch.setattr(cache, 'SHARD_BYTES', 5 * 32 * 32 * 3)  # 3 shards
    monkeypatch.setattr(folder, 'memory_budget', lambda: 1000)
    data = load(f.root, tmp_path / 'data', image_size=32)
    assert not data.in_memory
    pictures, labels = arrays(data)
    assert pictures.shape == (12, 32, 32, 3) and (labels == -1).all()
    assert len(np.unique(pictures.reshape(12, -1), axis=0)) == 12  # each image once
    monkeypatch.setattr(gan_data, 'SHUFFLE_BYTES', 4 * 32 * 32 * 3)
    stream = iter(gan_data.train_batches(data, 4, seed=0, flip=True))
    assert next(stream).shape == (4, 32, 32, 3) and next(stream).shape == (4, 32, 32, 3)
    # Two workers under --strategy=multi_worker each read their own shards: the
    # first the 1st and 3rd (5 + 2 images), the second the 2nd, together each once.
    parts = [data.worker_part(index, 2) for index in (0, 1)]
    assert [part.num_examples for part in parts] == [7, 5]
    read = np.concatenate([arrays(part)[0] for part in parts])
    assert sorted(map(bytes, read)) == sorted(map(bytes, pictures))
    assert data.worker_part(0, 4) is None  # fewer shards than workers: all read all
    assert load(f.root, tmp_path / 'data', image_size=32).worker_part(0, 2) is not None
    monkeypatch.setattr(folder, 'memory_budget', lambda: 1 << 30)
    assert load(f.root, tmp_path / 'data', image_size=32).worker_part(0, 2) is None


def test_flips_are_seeded_and_resume_exactly(tmp_path):
    f = image_folders.Folder(tmp_path / 'pictures')
    for i, picture in enumerate(image_folders.emoji(8)):
        f.save(f'{i}.png', picture)
    data = load(f.root, tmp_path / 'data', image_size=32)
    plain = np.concatenate(list(gan_data.train_batches(data, 4, 0).take(4)))
    flipped = np.concatenate(list(gan_data.train_batches(data, 4, 0, flip=True).take(4)))
    mirrored = (flipped != plain).any(axis=(1, 2, 3))
    assert 0 < mirrored.sum() < 16
    assert (flipped[mirrored] == plain[mirrored][:, :, ::-1]).all()
    resumed = np.concatenate(list(gan_data.train_batches(data, 4, 0, start_step=2,
                                                         flip=True).take(2)))
    assert (resumed == flipped[8:]).all()


def test_tfds_images_of_another_size_take_the_same_path(tmp_path, monkeypatch):
    digits, labels = image_folders.mnist(2)
    import tensorflow as tf

    def fake_tfds(name, *args, **kwargs):
        return dict(examples=tf.data.Dataset.from_tensor_slices(
                        {'image': digits[..., None], 'label': labels.astype(np.int64)}),
                    num_examples=len(digits), image_shape=(28, 28, 1), source='prepared',
                    detail=str(tmp_path), num_classes=10, class_names=tuple('0123456789'))
    monkeypatch.setattr(gan_data.tfds_source, 'load', fake_tfds)
    data = gan_data.load('mnist', str(tmp_path), image_size=32, channels=3)
    assert data.image_shape == (32, 32, 3) and data.num_classes == 10
    pictures, got = arrays(data)
    assert (got == labels).all()
    want = np.stack([images.fit(d[..., None], images.Pixels(32, 3)) for d in digits])
    assert (pictures == want).all() and data.in_memory
    assert gan_data.load('mnist', str(tmp_path)).image_shape == (28, 28, 1)  # as it is
    # Larger than training may hold (celeb_a at 128 px: 10 GB): streamed, as a folder.
    monkeypatch.setattr(folder, 'memory_budget', lambda: 1000)
    assert not gan_data.load('mnist', str(tmp_path), image_size=32, channels=3).in_memory


# ----------------------------------------------------------------- bad input

def bad(tmp_path, case):
    """A `--dataset` value of each bad kind."""
    root = tmp_path / case
    f = image_folders.Folder(root)
    if case == 'missing':
        shutil.rmtree(root)
    elif case == 'file':
        root = tmp_path / 'photo.png'
        Image.new('RGB', (9, 9)).save(root)
    elif case == 'only_non_images':
        f.write('a.txt', b'hello\n', None)
        image_folders.sound(f.path('b.wav'))
        f.write('c.svg', image_folders.SVG, None)
    elif case == 'mostly_broken':
        for i, picture in enumerate(image_folders.emoji(6)):
            png = f.encoded(picture, 'PNG')
            f.write(f'{i}.png', png if i < 2 else png[:300], None)
    elif case == 'zero_bytes_and_tiny':
        f.write('a.png', b'', None)
        f.save('b.png', Image.new('RGB', (1, 1)))
    elif case == 'cache_inside':
        f.save('a.png', Image.new('RGB', (9, 9)))
        return root, root / 'cache'
    return root, tmp_path / 'data'


@pytest.mark.parametrize('case, message', [
    ('missing', '--dataset={root}: no such folder; give a folder of images or a '
                'tensorflow-datasets name'),
    ('file', '--dataset={root} is a file, not a folder: give the folder that holds '
             'your images'),
    ('empty', 'no usable images in --dataset={root} (no files at all); it takes PNG, '
              'JPEG, BMP, GIF, WebP and TIFF files, in it or in its subfolders'),
    ('only_non_images', 'no usable images in --dataset={root} (3 not_image: a.txt, b.wav, '
                        'c.svg); it takes PNG'),
    ('mostly_broken', '4 of 6 image files in {root} are broken (4 corrupt), e.g. 2.png, '
                      '3.png, 4.png: training on the 2 others would not represent the '
                      'folder; repair or remove them'),
    ('zero_bytes_and_tiny', 'no usable images in --dataset={root} (1 empty, 1 too_small: '
                            'a.png, b.png)'),
    ('cache_inside', '--data_dir={data_dir} lies inside --dataset={root}: the cache would '
                     'land among your images; choose another --data_dir'),
])
def test_bad_input_is_one_line_naming_the_path(case, message, tmp_path):
    root, data_dir = bad(tmp_path, case)
    before = image_folders.snapshot(tmp_path)
    with pytest.raises(UserError) as error:
        load(root, data_dir)
    assert str(error.value).startswith(message.format(root=root, data_dir=data_dir))
    assert '\n' not in str(error.value)
    after = image_folders.snapshot(tmp_path)
    assert {p: s for p, s in after.items() if p in before} == before  # nothing changed
    assert not [p for p in after if p not in before and not p.startswith(str(data_dir))]
    if os.path.isdir(cache.root(str(data_dir))):
        assert os.listdir(cache.root(str(data_dir))) == []  # no cache, no temporary


def test_one_image_trains_with_a_warning(tmp_path):
    from gan_tf import train
    f = image_folders.Folder(tmp_path / 'single')
    f.save('only.png', image_folders.emoji(1)[0])
    data = load(f.root, tmp_path / 'data')
    assert data.num_examples == 1
    assert next(iter(gan_data.train_batches(data, 4, 0))).shape == (4, 64, 64, 3)
    config = Config(dataset=f.root)
    with pytest.warns(UserWarning, match='holds one image: the generator can only learn '
                      'to copy it'):
        train.warn_if_small(config, data)
    with pytest.warns(UserWarning, match='--flagfile=examples/folder.flags'):
        train.warn_if_small(config, dataclasses.replace(data, num_examples=500))


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which('setpriv'),
                    reason='needs root and setpriv to drop the permission override')
def test_unreadable_files_and_folders_are_skipped(tmp_path):
    """Root reads any file whatever its mode: the loader runs in a process
    without the two capabilities that let it (setpriv), as a user would."""
    f = image_folders.Folder(tmp_path / 'locked')
    for i, picture in enumerate(image_folders.emoji(3)):
        f.save(['a.png', 'b.png', 'inner/c.png'][i], picture)
    os.chmod(f.path('b.png'), 0)
    os.chmod(f.path('inner/c.png')[:-6], 0)
    code = ('from gan_tf import data; import csv; d = data.load(%r, %r); '
            'print(d.num_examples, sorted(tuple(r.values()) for r in csv.DictReader('
            'open(d.listing))))' % (f.root, str(tmp_path / 'data')))
    try:
        result = subprocess.run(['setpriv', '--bounding-set=-dac_override,-dac_read_search',
                                 '--inh-caps=-dac_override,-dac_read_search',
                                 sys.executable, '-c', code], capture_output=True,
                                text=True, timeout=120, cwd=REPO)
    finally:
        os.chmod(f.path('inner/c.png')[:-6], 0o755)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == (
        "1 [('a.png', 'kept', '', ''), ('b.png', 'skipped', 'unreadable', "
        "'Permission denied'), ('inner/', 'skipped', 'unreadable', 'Permission denied')]")


# ----------------------------------------------------------------- models

@pytest.mark.parametrize('arch, size, channels, classes', [
    ('dcgan', 32, 1, 0), ('dcgan', 64, 3, 0), ('dcgan', 128, 3, 3),
    ('sagan', 32, 3, 3), ('sagan', 64, 1, 0), ('sagan', 128, 3, 0)])
def test_convolutional_models_adapt_to_sizes_and_channels(arch, size, channels, classes):
    from gan_tf import models
    import tensorflow as tf
    generator, discriminator = models.build(arch, (size, size, channels), (16, 8, 8, 8)[
        :{32: 2, 64: 3, 128: 4}[size]], (8, 8, 8, 16)[:{32: 2, 64: 3, 128: 4}[size]],
        num_classes=classes)
    z, labels = tf.random.normal((2, 100)), tf.constant([0, 1])
    fakes = generator(z, labels) if classes else generator(z)
    assert fakes.shape == (2, size, size, channels)
    logits = discriminator(fakes, labels) if classes else discriminator(fakes)
    assert logits.shape == (2,)


@pytest.mark.parametrize('arch', ['mlp', 'maxout'])
def test_fully_connected_models_warn_when_huge(arch):
    from gan_tf import models
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        models.build(arch, (32, 32, 3))
    with pytest.warns(UserWarning, match=rf"--arch={arch} at 128x128x3: its generator's "
                      r'output layer alone has [\d.]+ million weights'):
        models.build(arch, (128, 128, 3))


# ----------------------------------------------------------------- end to end

def test_trains_on_a_colour_folder_through_the_main_command(tmp_path):
    """A labelled folder of real emoji with junk beside them: classes found, the
    skipped files reported, 32 px colour samples and export, and a second,
    conditional run that starts from the cache."""
    f = image_folders.Folder(tmp_path / 'my pictures')
    for i, path in enumerate(image_folders.emoji_files(200)):
        shutil.copy(path, f.path(f'{"faces" if i % 2 else "symbols"}/{i}.png'))
    f.write('notes.txt', b'my emoji\n', 'not_image')
    f.write('faces/broken.png', b'\x89PNG\r\n\x1a\n' + bytes(20), 'corrupt')
    common = [f'--dataset={f.root}', f'--data_dir={tmp_path / "data"}',
              f'--out_dir={tmp_path / "out"}', '--arch=dcgan', '--image_size=32',
              '--g_widths=32,16', '--d_widths=16,32', '--batch_size=16',
              '--max_steps=4', '--sample_every=4', '--log_every=2',
              '--checkpoint_every=4', '--eval_every=0', '--health_every=4',
              '--nohealth_classes']  # the folder's judge: test_folder_judge.py
    result = run_cli(*common, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert (f'--dataset={f.root}: 200 images, 2 classes (subfolders): faces, symbols; '
            '32x32x3 (prepared now') in out
    assert 'skipped 2: 1 corrupt (faces/broken.png); 1 not_image (notes.txt)' in out
    assert 'warning: --dataset=' in result.stderr and 'folder.flags' in result.stderr
    run_dir = tmp_path / 'out' / 'my_pictures-dcgan-non_saturating'  # no space, no slash
    record = json.loads((run_dir / 'config.json').read_text())
    assert record['class_names'] == ['faces', 'symbols']
    assert record['image_shape'] == [32, 32, 3] and record['num_examples'] == 200
    assert record['data_source'] == 'folder'
    with open(run_dir / 'images.csv', newline='') as csv_file:
        rows = {r['path']: r['status'] + ' ' + r['reason'] for r in csv.DictReader(csv_file)}
    assert len(rows) == 202 and rows['faces/broken.png'] == 'skipped corrupt'
    grid = Image.open(run_dir / 'samples' / 'step_000004.png')
    assert grid.mode == 'RGB'
    exported = json.loads((run_dir / 'export' / 'assets' / 'config.json').read_text())
    assert exported['class_names'] == ['faces', 'symbols']

    import tensorflow as tf
    export = tf.saved_model.load(str(run_dir / 'export'))
    made = export.signatures['generate'](num=tf.constant(5), seed=tf.constant(1, tf.int64))
    assert made['images'].shape == (5, 32, 32, 3) and made['images'].dtype == tf.uint8

    # The second run, conditional on the folder's classes, from the cache.
    error = error_of([*common, '--conditional', '--run_name=second', '--max_steps=2'])
    assert error is None, error
    second = tmp_path / 'out' / 'second'
    assert json.loads((second / 'config.json').read_text())['data_source'] == 'cache'
    export = tf.saved_model.load(str(second / 'export'))
    made = export.signatures['generate'](num=tf.constant(2), seed=tf.constant(1, tf.int64),
                                         labels=tf.constant([0, 1]))
    assert made['images'].shape == (2, 32, 32, 3)
    from gan_tf import sources  # python -m gan_tf.sample --labels=symbols
    assert sources.ExportedGenerator(str(second / 'export')).class_index('symbols') == 1
