"""`gan_tf --arch=dcgan` in PyTorch, eager, as PyTorch GAN code runs it: a yardstick.

The same players as gan_tf's `dcgan` at the same image size and widths (by
default its own: G 64-32 and D 32-64 filters at 32 px, G 128-64-32 and D
32-64-128 at 64 px): a bias-free dense layer to the smallest feature map,
batch-norm and ReLU, 4x4 stride-2 transposed convolutions (bias-free, batch-norm,
ReLU) and a tanh output; D's 4x4 stride-2 convolutions with LeakyReLU(0.2) and
batch-norm after the first, then one logit. Weights N(0, 0.02), batch-norm
momentum 0.9 (PyTorch's 0.1), the non-saturating loss from logits, Adam(2e-4,
beta1 0.5), and gan_tf's work per step: D on a real and a fresh fake batch,
then G on new noise, then the moving average of G's weights (decay 0.999, as
gan_tf's default --ema_decay). Needs PyTorch, which gan_tf does not:

    python -m venv /tmp/torch && /tmp/torch/bin/pip install torch==2.13.0 numpy
    /tmp/torch/bin/python benchmarks/pytorch_dcgan.py --image_size=32
    python -m gan_tf.bench --arch=dcgan --image_size=32     # the same step, gan_tf
"""
import argparse

import torch
from torch import nn

from torch_gan import best_seconds, gan_step

BASE_FILTERS = 32  # gan_tf.models.dcgan.BASE_FILTERS (not imported: no TensorFlow here)


def default_widths(size):
    """gan_tf's dcgan defaults: one stride-2 block per halving of the side while
    it is even and above 8, BASE_FILTERS at the largest, doubling per halving."""
    blocks = 0
    while size % 2 == 0 and size > 8:
        size, blocks = size // 2, blocks + 1
    return ([BASE_FILTERS * 2 ** i for i in reversed(range(blocks))],
            [BASE_FILTERS * 2 ** i for i in range(blocks)])


def generator(size, channels, widths, latent_dim=100):
    start = size // 2 ** len(widths)
    layers = [nn.Linear(latent_dim, start * start * widths[0], bias=False),
              nn.Unflatten(1, (widths[0], start, start)),
              nn.BatchNorm2d(widths[0], momentum=0.1), nn.ReLU()]
    for w_in, w_out in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False),
                   nn.BatchNorm2d(w_out, momentum=0.1), nn.ReLU()]
    layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
    return nn.Sequential(*layers)


def discriminator(size, channels, widths):
    layers, w_in = [], channels
    for i, w in enumerate(widths):
        layers.append(nn.Conv2d(w_in, w, 4, 2, 1, bias=i == 0))
        if i:
            layers.append(nn.BatchNorm2d(w, momentum=0.1))
        layers.append(nn.LeakyReLU(0.2))
        w_in = w
    side = size // 2 ** len(widths)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(side * side * widths[-1], 1))


def initialise(model):
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--image_size', type=int, default=32)
    parser.add_argument('--channels', type=int, default=3)
    parser.add_argument('--batch_size', type=int, default=64)
    parser.add_argument('--g_widths', default='', help='e.g. 128,64 (empty: gan_tf\'s)')
    parser.add_argument('--d_widths', default='')
    parser.add_argument('--ema_decay', type=float, default=0.999,
                        help="gan_tf's default; a negative value: no moving average")
    parser.add_argument('--steps', type=int, default=30)
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    args.ema_decay = args.ema_decay if args.ema_decay >= 0 else None
    torch.manual_seed(0)
    g_widths, d_widths = default_widths(args.image_size)
    g_widths = [int(w) for w in args.g_widths.split(',')] if args.g_widths else g_widths
    d_widths = [int(w) for w in args.d_widths.split(',')] if args.d_widths else d_widths
    G = initialise(generator(args.image_size, args.channels, g_widths))
    D = initialise(discriminator(args.image_size, args.channels, d_widths))
    g_opt = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    batch = args.batch_size
    real = torch.rand(batch, args.channels, args.image_size, args.image_size) * 2 - 1
    step = gan_step(G, D, g_opt, d_opt, real, ema_decay=args.ema_decay)

    step()
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    step_time = best_seconds(step, args.steps, args.repeats)
    matmul_time = best_seconds(lambda: torch.mm(a, b), 10, args.repeats)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, batch {batch}, '
          f'{args.image_size}x{args.image_size}x{args.channels}, G {g_widths}, D {d_widths}')
    print(f'step:          {step_time * 1e3:8.2f} ms')
    print(f'images/second: {batch / step_time:8.0f}')
    print(f'matmul FLOP/s: {2 * n ** 3 / matmul_time / 1e9:8.1f} GFLOP/s (float32 2048x2048)')


if __name__ == '__main__':
    main()
