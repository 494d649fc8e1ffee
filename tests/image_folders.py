"""Image folders as users have them, built from real emoji and MNIST digits, for
tests/test_folders.py. Each builder writes into a folder and returns what a
loader should make of it: images kept, files skipped per reason.

  labelled_digits  10 class subfolders of MNIST digits in every grey encoding,
                   with junk beside them (hidden files, a CSV, Thumbs.db, an
                   empty folder, a folder of notes)
  messy            colour emoji in every format and mode (EXIF-rotated, CMYK,
                   palette with transparency, 16-bit, GIF and WebP animations)
                   and every bad case: truncated, corrupt, zero-byte, text,
                   sound, SVG, hidden, 1x1, links (a loop, duplicates, a broken
                   one), a FIFO, a non-UTF-8 name, a newline in a name
"""
import gzip
import io
import os
import struct
import wave
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED_DATA

EMOJI = os.path.join(SHARED_DATA, 'emoji')
SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" '
       b'height="64"><circle cx="32" cy="32" r="30" fill="gold"/></svg>\n')


def emoji_files(count=None):
    """Paths of the real emoji PNGs (136x128 RGBA), sorted; skips without them."""
    if not os.path.isdir(EMOJI):
        pytest.skip(f'the emoji folder is not in {EMOJI} (set GAN_TF_SHARED_DATA)')
    names = sorted(n for n in os.listdir(EMOJI) if n.endswith('.png'))
    return [os.path.join(EMOJI, n) for n in names[:count]]


def emoji(count, start=0):
    return [Image.open(p).convert('RGBA') for p in emoji_files(start + count)[start:]]


def mnist(count_per_class):
    """(digits uint8 [n, 28, 28], labels) of the first MNIST training digits."""
    folder = os.path.join(SHARED_DATA, 'mnist')
    if not os.path.isdir(folder):
        pytest.skip(f'MNIST is not in {folder} (set GAN_TF_SHARED_DATA)')
    with gzip.open(os.path.join(folder, 'train-images-idx3-ubyte.gz')) as f:
        digits = np.frombuffer(f.read(16 + 784 * 1000)[16:], np.uint8).reshape(-1, 28, 28)
    with gzip.open(os.path.join(folder, 'train-labels-idx1-ubyte.gz')) as f:
        labels = np.frombuffer(f.read(8 + 1000)[8:], np.uint8)
    keep = np.concatenate([np.flatnonzero(labels == d)[:count_per_class]
                           for d in range(10)])
    return digits[keep], labels[keep]


def on_white(rgba):
    white = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert('RGB')


def png16(path, array):
    """A 16-bit PNG, grey [h, w] or RGB [h, w, 3] (Pillow cannot write 16-bit
    colour ones)."""
    array = np.asarray(array, '>u2')
    h, w = array.shape[:2]
    raw = b''.join(b'\0' + row.tobytes() for row in array.reshape(h, -1))

    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data +
                struct.pack('>I', zlib.crc32(kind + data)))
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack(
            '>IIBBBBB', w, h, 16, 0 if array.ndim == 2 else 2, 0, 0, 0)) +
            chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def exif_rotated(image, orientation):
    """(stored image, EXIF) that EXIF `orientation` turns back into `image`."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    undo = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90}[orientation]
    return image.transpose(undo), exif


def grey_palette(image):
    """A P-mode image whose 16 palette entries are greys."""
    levels = np.linspace(0, 255, 16).round().astype(np.uint8)
    p = Image.fromarray((np.asarray(image, np.uint16) * 15 // 255).astype(np.uint8), 'P')
    p.putpalette(np.repeat(levels, 3).tolist())
    return p


def palette_with_transparency(rgba):
    """P mode, index 0 transparent (GIFs, optimised PNGs)."""
    opaque = on_white(rgba).quantize(255)
    indices = np.asarray(opaque, np.uint8) + 1
    indices[np.asarray(rgba.getchannel('A')) < 128] = 0
    p = Image.fromarray(indices, 'P')
    p.putpalette([0, 0, 0] + opaque.getpalette()[:255 * 3])
    p.info['transparency'] = 0
    return p


def sound(path):
    with wave.open(path, 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((np.sin(np.arange(800) / 3) * 2e4).astype('<i2').tobytes())


class Folder:
    """Writes files below `root` and counts what a loader should report."""

    def __init__(self, root):
        self.root = str(root)
        self.kept, self.skipped = 0, {}
        os.makedirs(self.root, exist_ok=True)

    def path(self, relative):
        path = os.path.join(self.root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def expect(self, outcome):
        if outcome == 'kept':
            self.kept += 1
        elif outcome:
            self.skipped[outcome] = self.skipped.get(outcome, 0) + 1

    def save(self, relative, image, outcome='kept', **options):
        image.save(self.path(relative), **options)
        self.expect(outcome)

    def write(self, relative, data, outcome):
        with open(self.path(relative), 'wb') as f:
            f.write(data)
        self.expect(outcome)

    def encoded(self, image, file_format, **options):
        buffer = io.BytesIO()
        image.save(buffer, file_format, **options)
        return buffer.getvalue()


def labelled_digits(root, per_class=3):
    """Ten class folders of real digits, each file in another grey encoding."""
    f = Folder(root)
    digits, labels = mnist(per_class)
    encodings = ['png', 'JPG', 'bmp', 'gif', 'webp', 'tif', 'png16', 'one_bit', 'palette',
                 'Png']
    for i, (digit, label) in enumerate(zip(digits, labels)):
        image, name, kind = Image.fromarray(digit), f'{label}/{i:04d}', encodings[i % 10]
        if kind == 'png16':
            png16(f.path(name + '.png'), digit.astype(np.uint16) * 257)
            f.expect('kept')
        elif kind == 'one_bit':
            f.save(name + '.png', image.point(lambda v: 255 * (v > 127)).convert('1'))
        elif kind == 'palette':
            f.save(name + '.png', grey_palette(image))
        elif kind == 'webp':
            f.save(name + '.webp', image, lossless=True)
        elif kind in ('JPG', 'Png'):
            f.save(f'{name}.{kind}', image, format={'JPG': 'JPEG', 'Png': 'PNG'}[kind],
                   quality=95)
        else:
            f.save(f'{name}.{kind}', image)
    f.write('.DS_Store', b'\0\0\0\1Bud1' + bytes(100), 'hidden')
    f.write('3/._0007.png', b'\0\5\26\7' + bytes(50), 'hidden')
    f.write('labels.csv', b'file,label\n', 'not_image')
    f.write('7/Thumbs.db', b'\xd0\xcf\x11\xe0' + bytes(200), 'not_image')
    f.write('notes/readme.txt', b'these are digits\n', 'not_image')
    os.makedirs(os.path.join(f.root, 'empty_folder'))
    f.skipped['no_images'] = 2  # notes/, empty_folder/
    return f


def messy(root, images):
    """Colour images in every format and mode, and every bad case; `images`:
    RGBA emoji, at least 40."""
    f = Folder(root)
    pictures = iter(images)

    def take():
        return next(pictures)
    for i in range(8):
        f.save(f'u{i}.png', take())
    f.save('formats/photo.jpg', on_white(take()), quality=92)
    f.save('formats/SHOUT.JPG', on_white(take()), format='JPEG')
    f.save('formats/grey.jpg', on_white(take()).convert('L'))
    f.save('formats/cmyk.jpg', on_white(take()).convert('CMYK'), quality=95)
    f.save('formats/lossless.webp', take(), lossless=True)
    f.save('formats/lzw.tif', take(), compression='tiff_lzw')
    f.save('formats/plain.bmp', on_white(take()))
    first, second = take(), take()
    first.save(f.path('formats/animated.gif'), save_all=True, append_images=[second],
               duration=100, loop=0, disposal=2)
    f.expect('kept')
    first.save(f.path('formats/animated.webp'), save_all=True, append_images=[second],
               lossless=True)
    f.expect('kept')
    f.save('formats/palette_transparent.png', palette_with_transparency(take()))
    rgba = take()
    f.save('formats/grey_alpha.png', Image.merge('LA', (rgba.convert('L'),
                                                        rgba.getchannel('A'))))
    f.save('formats/one_bit.png', on_white(take()).convert('1'))
    png16(f.path('formats/rgb16.png'), np.asarray(on_white(take()), np.uint16) * 257)
    f.expect('kept')
    png16(f.path('formats/grey16.png'),
          np.asarray(on_white(take()).convert('L'), np.uint16) * 257)
    f.expect('kept')
    for extension in ('jpg', 'png', 'webp'):
        stored, exif = exif_rotated(on_white(take()), 6)
        f.save(f'exif/rotated.{extension}', stored, exif=exif, quality=95, lossless=True)
    f.save('sizes/one_by_one.png', Image.new('RGB', (1, 1), (200, 30, 30)), 'too_small')
    f.save('sizes/tall_40x300.png', take().resize((40, 300)))
    f.write('content/no_extension', f.encoded(on_white(take()), 'JPEG'), 'kept')
    f.write('content/png_named.jpg', f.encoded(take(), 'PNG'), 'kept')
    f.write('content/fake.png', b'this is not a PNG\n', 'corrupt')
    png = f.encoded(take(), 'PNG')
    f.write('broken/truncated.png', png[:len(png) // 2], 'corrupt')
    jpeg = f.encoded(on_white(take()), 'JPEG')
    f.write('broken/truncated.jpg', jpeg[:len(jpeg) // 2], 'corrupt')
    f.write('broken/header_only.gif', b'GIF89a\x10\x00\x10\x00', 'corrupt')
    f.write('broken/empty.jpg', b'', 'empty')
    f.write('broken/empty.txt', b'', 'not_image')
    f.write('README.txt', b'my pictures\n', 'not_image')
    f.write('logo.svg', SVG, 'not_image')
    f.write('text_starting_BM.txt', b'BM is how BMP files start\n', 'not_image')
    sound(f.path('sound.wav'))
    f.expect('not_image')
    f.save('.hidden.png', take(), 'hidden')
    f.save('.thumbnails/t.png', take(), None)
    f.save('__MACOSX/._u0.png', take(), None)
    f.skipped['hidden'] += 2  # each hidden folder counts once
    f.save('names/émoji ☺.png', take())
    take().save(os.path.join(os.fsencode(f.root), b'names', b'caf\xe9.png'), 'PNG')
    f.expect('kept')
    f.save('names/line\nbreak.png', take())
    os.symlink('.', f.path('links/loop'))
    os.symlink('..', f.path('links/up'))
    f.skipped['link_loop'] = 2
    os.symlink(os.path.join('..', 'u0.png'), f.path('links/alias.png'))
    os.link(f.path('u1.png'), f.path('links/hard.png'))
    f.skipped['duplicate'] = 2
    os.symlink('nowhere.png', f.path('links/broken.png'))
    f.expect('broken_link')
    os.mkfifo(f.path('special/pipe.png'))
    f.expect('not_regular')
    os.makedirs(os.path.join(f.root, 'empty'))
    f.write('docs/only_text.txt', b'nothing here\n', 'not_image')
    f.skipped['no_images'] = 4  # broken/, docs/, empty/, special/
    return f


def snapshot(root):
    """Every path below `root` with its size, mtime and mode: to show a run
    changed nothing there."""
    found = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = os.path.join(folder, name)
            s = os.lstat(path)
            found[path] = (s.st_size, s.st_mtime_ns, s.st_mode)
    return found
