"""The same MLP GAN in PyTorch, eager, as PyTorch GAN code runs it: a yardstick.

Same layer sizes, dropout, loss (non-saturating, from logits), Adam settings and
work per step as `gan_tf --arch=mlp` (D on real and on a fresh fake batch, then G
on new noise). Needs PyTorch, which gan_tf does not:

    # measured with PyTorch 2.13.0's CPU build; any recent PyTorch runs it
    python -m venv /tmp/torch && /tmp/torch/bin/pip install torch==2.13.0 numpy
    # time the step on random data, beside `python -m gan_tf.bench --arch=mlp`:
    /tmp/torch/bin/python benchmarks/pytorch_mlp_gan.py --batch_size=256
    # train on real MNIST for 10 minutes, then write 10,000 samples for
    # `python -m gan_tf.evaluate --samples=torch_samples.npy`:
    /tmp/torch/bin/python benchmarks/pytorch_mlp_gan.py --batch_size=64 \
        --mnist_dir=../shared/data/mnist --train_seconds=600 --samples=torch_samples.npy
"""
import argparse
import gzip
import os
import time

import numpy as np

import torch
from torch import nn

from torch_gan import best_seconds, gan_step


def mlp(sizes, last, dropout=0.0):
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2)]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, last)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch_size', type=int, default=256)
    parser.add_argument('--steps', type=int, default=30)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--mnist_dir', help='train on the IDX files in this folder')
    parser.add_argument('--train_seconds', type=float, default=600)
    parser.add_argument('--max_steps', type=int, default=0,
                        help='stop after this many steps instead (0: time only)')
    parser.add_argument('--samples', default='torch_samples.npy')
    args = parser.parse_args()
    torch.manual_seed(0)
    generator = mlp([100, 256, 512, 1024], nn.Sequential(nn.Linear(1024, 784), nn.Tanh()))
    discriminator = mlp([784, 1024, 512, 256], nn.Linear(256, 1), dropout=0.3)
    g_opt = torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999))
    batch = args.batch_size
    real = torch.rand(batch, 784) * 2 - 1
    step = gan_step(generator, discriminator, g_opt, d_opt, real)

    if args.mnist_dir:
        train(step, generator, args)
        return
    step()
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    step_time = best_seconds(step, args.steps, args.repeats)
    matmul_time = best_seconds(lambda: torch.mm(a, b), 10, args.repeats)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, batch {batch}')
    print(f'step:          {step_time * 1e3:8.2f} ms')
    print(f'images/second: {batch / step_time:8.0f}')
    print(f'matmul FLOP/s: {2 * n ** 3 / matmul_time / 1e9:8.1f} GFLOP/s (float32 2048x2048)')


def train(step, generator, args):
    """Trains on real MNIST for args.train_seconds, then saves 10,000 samples."""
    with gzip.open(os.path.join(args.mnist_dir, 'train-images-idx3-ubyte.gz')) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    images = torch.from_numpy(images.astype(np.float32) / 127.5 - 1)
    batch, steps, start = args.batch_size, 0, time.perf_counter()
    while time.perf_counter() - start < args.train_seconds and steps != (args.max_steps or -1):
        order = torch.randperm(len(images))
        for i in range(0, len(images) - batch + 1, batch):
            step(images[order[i:i + batch]])
            steps += 1
            if time.perf_counter() - start >= args.train_seconds or steps == (args.max_steps or -1):
                break
    seconds = time.perf_counter() - start
    generator.eval()
    with torch.no_grad():
        samples = generator(torch.randn(10_000, 100)).reshape(-1, 28, 28, 1)
    np.save(args.samples, samples.numpy())
    print(f'{steps} steps in {seconds:.0f} s ({steps * batch / seconds:.0f} images/s); '
          f'wrote {args.samples}')


if __name__ == '__main__':
    main()
