"""Disturbances of real images, at growing strength: the test a sample-quality
metric must pass (Heusel et al. 2017, "GANs trained by a two time-scale update
rule", appendix A1: FID must rise with each).

Each function takes images in [-1, 1] (NHWC, float32), a strength and a
`numpy.random.Generator`, and returns disturbed copies; strength 0 returns the
images unchanged. `DISTURBANCES` lists them with the strengths the validity
tests and `benchmarks/judge_validity.py` use. numpy and scipy only.
"""
import numpy as np
import scipy.ndimage as ndimage


def gaussian_noise(images, strength, rng):
    """Additive Gaussian noise of std `strength` (in the [-1, 1] range), clipped."""
    noise = strength * rng.standard_normal(images.shape).astype(np.float32)
    return np.clip(images + noise, -1.0, 1.0)


def gaussian_blur(images, strength, rng):
    """A Gaussian blur of std `strength` pixels."""
    if not strength:
        return images.copy()
    return ndimage.gaussian_filter(images, sigma=(0, strength, strength, 0),
                                   mode='nearest').astype(np.float32)


def salt_and_pepper(images, strength, rng):
    """A share `strength` of the pixels (all channels) set to black or white."""
    disturbed = images.copy()
    n, height, width, _ = images.shape
    hit = rng.random((n, height, width)) < strength
    value = np.where(rng.random((n, height, width)) < 0.5, -1.0, 1.0).astype(np.float32)
    disturbed[hit] = value[hit][:, None]
    return disturbed


def black_rectangles(images, strength, rng, count=5):
    """`count` black rectangles at random places in each image, their sides
    `strength` times the image's (Heusel et al.'s implanted rectangles)."""
    disturbed = images.copy()
    if not strength:
        return disturbed
    n, height, width, _ = images.shape
    rect_h, rect_w = max(1, round(strength * height)), max(1, round(strength * width))
    for _ in range(count):
        top = rng.integers(0, height - rect_h + 1, n)[:, None]
        left = rng.integers(0, width - rect_w + 1, n)[:, None]
        rows = (np.arange(height)[None] >= top) & (np.arange(height)[None] < top + rect_h)
        cols = (np.arange(width)[None] >= left) & (np.arange(width)[None] < left + rect_w)
        disturbed[rows[:, :, None] & cols[:, None, :]] = -1.0
    return disturbed


def _warp(images, shift_y, shift_x):
    """Each image sampled at (row + shift_y, column + shift_x), with cubic splines:
    linear interpolation would blur every image at sub-pixel shifts, and that blur,
    not the warp, would then be what a judge sees in a weak warp."""
    n, height, width, channels = images.shape
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing='ij')
    shift_y = np.broadcast_to(shift_y, (n, height, width))
    shift_x = np.broadcast_to(shift_x, (n, height, width))
    warped = np.empty_like(images)
    for i in range(n):
        where = np.stack([rows + shift_y[i], cols + shift_x[i]])
        for c in range(channels):
            warped[i, :, :, c] = ndimage.map_coordinates(images[i, :, :, c], where, order=3,
                                                         mode='constant', cval=-1.0)
    return np.clip(warped, -1.0, 1.0)


def swirl(images, strength, rng):
    """A swirl about the image's centre, of `strength` (as scikit-image's `swirl`,
    with its radius the image's side), the same for every image."""
    if not strength:
        return images.copy()
    _, height, width, _ = images.shape
    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2
    rows, cols = np.meshgrid(np.arange(height, dtype=np.float64),
                             np.arange(width, dtype=np.float64), indexing='ij')
    y, x = rows - centre_y, cols - centre_x
    rho = np.hypot(y, x)
    radius = max(height, width) / 5 * np.log(2)
    theta = strength * np.exp(-rho / radius) + np.arctan2(y, x)
    return _warp(images, centre_y + rho * np.sin(theta) - rows,
                 centre_x + rho * np.cos(theta) - cols)


def elastic(images, strength, rng, smoothness=3.0):
    """An elastic warp (Simard et al. 2003): random displacements smoothed with a
    Gaussian of std `smoothness` pixels, scaled to move pixels by `strength`
    pixels (root mean square)."""
    if not strength:
        return images.copy()
    n, height, width, _ = images.shape
    field = ndimage.gaussian_filter(rng.standard_normal((2, n, height, width)),
                                    sigma=(0, 0, smoothness, smoothness), mode='constant')
    field *= strength / np.sqrt(np.mean(field ** 2))
    return _warp(images, field[0], field[1])


def mix_in(images, strength, rng, other):
    """A share `strength` of the images replaced by images of `other` (another
    dataset's, of the same shape)."""
    mixed = images.copy()
    count = round(strength * len(images))
    mixed[rng.choice(len(images), count, replace=False)] = \
        other[rng.choice(len(other), count, replace=False)]
    return mixed


# name: (function, strengths from clean to strong). mix_in needs `other` images.
DISTURBANCES = {
    'gaussian_noise': (gaussian_noise, (0, 0.1, 0.25, 0.5, 1.0)),
    'gaussian_blur': (gaussian_blur, (0, 0.5, 1.0, 2.0, 4.0)),
    'salt_and_pepper': (salt_and_pepper, (0, 0.01, 0.02, 0.05, 0.1)),
    'black_rectangles': (black_rectangles, (0, 0.1, 0.2, 0.3)),
    'swirl': (swirl, (0, 0.5, 1.0, 2.0, 4.0)),
    'elastic': (elastic, (0, 0.5, 1.0, 2.0, 4.0)),
    'mix_in': (mix_in, (0, 0.05, 0.1, 0.25, 0.5)),
}


def disturb(name, images, strength, rng, other=None):
    """`images` with disturbance `name` at `strength`."""
    function, _ = DISTURBANCES[name]
    if name == 'mix_in':
        return function(images, strength, rng, other)
    return function(images, strength, rng)
