"""gan_tf's resize for InceptionV3 against clean-fid's own, on real images.

clean-fid (Parmar et al. 2022) resizes with PIL's antialiased bicubic filter on
uint8 images, per channel in float ("clean" mode); `gan_tf.judge.
resize_for_inception` means to do the same. This prints how far apart the two
are, in levels of 255, beside TensorFlow's plain bilinear resize (what gan_tf
did before) for scale. Needs clean-fid, which gan_tf does not (with PyTorch's
CPU build, and without torchvision, which its resize does not use):

    python -m venv /tmp/cf && /tmp/cf/bin/pip install torch==2.13.0 \\
        && /tmp/cf/bin/pip install --no-deps clean-fid \\
        && /tmp/cf/bin/pip install opencv-python-headless scipy tqdm requests -e .
    /tmp/cf/bin/python benchmarks/clean_fid_resize.py --dataset=path/to/pictures
"""
import argparse

import numpy as np
import tensorflow as tf
from cleanfid.resize import build_resizer

from gan_tf import artifacts, data, judge


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dataset', default='mnist', help='a folder or a tfds name')
    parser.add_argument('--data_dir', default='')
    parser.add_argument('--image_size', type=int, default=None, help="default: the data's")
    parser.add_argument('--num', type=int, default=200)
    args = parser.parse_args()
    found = data.load(args.dataset, args.data_dir, download=False,
                      image_size=args.image_size, quiet=True)
    images, _ = data.arrays(found, args.num)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    clean = build_resizer('clean')
    theirs = np.stack([clean(u8) for u8 in artifacts.to_uint8(images)])
    ours = (judge.resize_for_inception(images, 299) + 1) * 127.5
    bilinear = (tf.image.resize(images, (299, 299)).numpy() + 1) * 127.5
    print(f'{len(images)} images of {args.dataset}, {images.shape[1]} px -> 299 px, '
          'differences from clean-fid in levels of 255:')
    for name, resized in (('gan_tf', ours), ('tf.image.resize bilinear', bilinear)):
        diff = np.abs(resized - theirs)
        print(f'  {name:26} mean {diff.mean():.4f}  max {diff.max():.4f}')


if __name__ == '__main__':
    main()
