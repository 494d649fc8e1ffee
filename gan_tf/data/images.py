"""One image, file or array, to a square uint8 array at the training size (PIL).

`read(path, pixels)` and `fit(array, pixels)` apply the same steps, in this
order: first frame (GIF, WebP, TIFF pages); EXIF orientation; every PIL mode
to L, LA, RGB or RGBA (palette, CMYK, 16-bit, 1-bit, ...); transparency
composited on the background colour unless alpha is kept; then a square by
centre crop, padding or stretching, resized with PIL's antialiased bicubic
filter (what clean-fid, Parmar et al. 2022, calls correct resizing).

Pillow pitfalls handled here (see the comments where each is): 16-bit grey
clips in convert('L'); palette and colour-key transparency turns black through
convert('RGB'); a PNG's EXIF may follow its pixels; TIFF orientation is
applied by Pillow itself; WebP has no grey mode; truncated files open fine and
fail only when decoded.
"""
import dataclasses

import numpy as np
from PIL import Image, ImageOps

# Image files are recognised by their first bytes; the extension only explains
# a failure (an image name with other bytes is 'corrupt', not 'not_image').
FORMATS = 'PNG, JPEG, BMP, GIF, WebP and TIFF'
EXTENSIONS = {'.png': 'PNG', '.jpg': 'JPEG', '.jpeg': 'JPEG', '.jpe': 'JPEG',
              '.jfif': 'JPEG', '.bmp': 'BMP', '.dib': 'BMP', '.gif': 'GIF',
              '.webp': 'WEBP', '.tif': 'TIFF', '.tiff': 'TIFF'}
OTHER_IMAGE_EXTENSIONS = {'.avif', '.heic', '.heif', '.ico', '.jp2', '.jxl', '.psd',
                          '.tga', '.ppm', '.pgm', '.pbm', '.raw', '.cr2', '.nef', '.dng'}
_MAGIC = ((b'\x89PNG\r\n\x1a\n', 'PNG'), (b'\xff\xd8\xff', 'JPEG'), (b'GIF87a', 'GIF'),
          (b'GIF89a', 'GIF'), (b'II*\x00', 'TIFF'), (b'MM\x00*', 'TIFF'),
          (b'II+\x00', 'TIFF'), (b'MM\x00+', 'TIFF'))
GREY_MODES = ('1', 'L', 'LA', 'La', 'I', 'I;16', 'I;16L', 'I;16B', 'I;16N', 'F')
# JPEGs are decoded at a reduced scale (libjpeg's DCT scaling, about 4x faster
# on photos) that keeps at least this many times the target size.
DRAFT_GAP = 3


@dataclasses.dataclass(frozen=True)
class Pixels:
    """What every image becomes: `size` x `size`, `channels` colour channels (1
    or 3) plus alpha if `keep_alpha`; `crop` 'centre', 'pad' or 'stretch';
    `background` (r, g, b) under transparency and around a padded image."""
    size: int
    channels: int = 3
    crop: str = 'centre'
    background: tuple = (255, 255, 255)
    keep_alpha: bool = False

    @property
    def shape(self):
        return (self.size, self.size, self.channels + self.keep_alpha)


def sniff(head):
    """The image format the first bytes of a file announce, or ''."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':  # not RIFF/WAVE sound
        return 'WEBP'
    # 'BM' alone starts many texts: the DIB header's size must be a known one too.
    if head[:2] == b'BM' and int.from_bytes(head[14:18], 'little') in (
            12, 16, 40, 52, 56, 64, 108, 124):
        return 'BMP'
    return ''


def is_grey(image):
    """Whether a PIL image is grey by its mode or (palette images) its palette."""
    if image.mode in GREY_MODES:
        return True
    if image.mode in ('P', 'PA') and image.palette is not None:
        rgb = np.frombuffer(image.palette.tobytes(), np.uint8)
        if image.palette.mode == 'RGB' and rgb.size % 3 == 0:
            rgb = rgb.reshape(-1, 3)
            return bool((rgb == rgb[:, :1]).all())
    return False


def looks_grey(array, tolerance=2):
    """Whether uint8 [h, w, c] pixels have R = G = B within `tolerance`: grey
    pictures stored in colour (WebP has no grey mode; many JPEGs are RGB)."""
    if array.shape[-1] < 3:
        return True
    rgb = array[..., :3].astype(np.int16)
    return bool(np.abs(rgb[..., 0] - rgb[..., 1]).max() <= tolerance and
                np.abs(rgb[..., 1] - rgb[..., 2]).max() <= tolerance)


def read(path, pixels, file_format=None):
    """The image file at `path` as uint8 `pixels.shape`. Raises what PIL raises
    for a broken file (truncated files fail here, not when opened)."""
    with open(path, 'rb') as f:
        image = Image.open(f, formats=[file_format] if file_format else None)
        if image.format == 'JPEG':
            # Before load(); a square, so a 90-degree EXIF turn keeps both sides.
            side = pixels.size * DRAFT_GAP
            image.draft(image.mode, (side, side))
        image.load()  # inside `with`: a PNG's eXIf chunk may follow its pixels
        # exif_transpose copies even when there is nothing to do; TIFFs are
        # already turned by Pillow (and their tag gone after load).
        if image.getexif().get(0x0112, 1) in range(2, 9):
            image = ImageOps.exif_transpose(image)
    return _fit(image, pixels)


def fit(array, pixels):
    """uint8 [h, w, 1 to 4] (a tfds image) as uint8 `pixels.shape`."""
    array = np.asarray(array, np.uint8)
    if array.shape[-1] == 1:
        array = array[..., 0]
    return _fit(Image.fromarray(array), pixels)


def _fit(image, pixels):
    image = _canonical(image)
    colour = pixels.channels == 3
    if pixels.keep_alpha:
        target = 'RGBA' if colour else 'LA'
    else:
        target = 'RGB' if colour else 'L'
        if image.mode in ('LA', 'RGBA'):
            under = Image.new('RGBA', image.size, (*pixels.background, 255))
            image = Image.alpha_composite(under, image.convert('RGBA'))
    if image.mode != target:
        image = image.convert(target)
    array = np.asarray(_square(image, pixels), np.uint8)
    return array[..., None] if array.ndim == 2 else array


def _canonical(image):
    """Any PIL mode as L, LA, RGB or RGBA, keeping the file's transparency."""
    mode = image.mode
    if mode in ('L', 'RGB') and 'transparency' in image.info:  # a tRNS colour key
        return image.convert('RGBA').convert('LA' if mode == 'L' else 'RGBA')
    if mode in ('L', 'LA', 'RGB', 'RGBA'):
        return image
    if mode.startswith('I') or mode == 'F':
        # 16- and 32-bit grey: scaled, since convert('L') clips at 255 (white).
        values = np.asarray(image, np.float64)
        top = values.max(initial=0)
        if mode.startswith('I;16') or (mode == 'I' and top > 255):
            values = values / 257
        elif mode == 'F' and top <= 1:
            values = values * 255
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))
    if mode in ('P', 'PA'):
        # Through RGBA: convert('RGB') shows the colour (often black) stored
        # under palette transparency (PNG tRNS, GIF's transparent index).
        grey, rgba = is_grey(image), image.convert('RGBA')
        if mode == 'PA' or 'transparency' in image.info:
            return rgba.convert('LA') if grey else rgba
        return rgba.convert('L' if grey else 'RGB')
    if mode == 'La':
        return image.convert('LA')
    if mode == 'RGBa':
        return image.convert('RGBA')
    # '1', CMYK (Pillow undoes Adobe's inverted CMYK), YCbCr, LAB, HSV, RGBX.
    return image.convert('L' if mode == '1' else 'RGB')


def _square(image, pixels):
    size, (width, height) = pixels.size, image.size
    if pixels.crop == 'stretch':
        return image.resize((size, size), Image.BICUBIC)
    if pixels.crop == 'centre':  # (crop first: resize's `box` reads pixels around it)
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        return image.crop((left, top, left + side, top + side)).resize(
            (size, size), Image.BICUBIC)
    scale = size / max(width, height)  # pad: the long side fits
    fitted = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = image.resize(fitted, Image.BICUBIC)
    fill = pixels.background
    if image.mode in ('L', 'LA'):
        fill = (round(0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2]),)
    if image.mode in ('LA', 'RGBA'):
        fill = (*fill, 0)  # kept alpha: the padding is transparent
    canvas = Image.new(image.mode, (size, size), fill if len(fill) > 1 else fill[0])
    canvas.paste(image, ((size - fitted[0]) // 2, (size - fitted[1]) // 2))
    return canvas
