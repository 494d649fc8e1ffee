"""`Config` checks every option as it is made, for library users as for the
command line: types, ranges, NaN and infinity, names, and the rules between
options, each mistake one line naming the flag."""
import dataclasses

import pytest

from gan_tf import Config, config
from gan_tf.errors import UserError


@pytest.mark.parametrize('options, message', [
    (dict(batch_size='64'), "--batch_size='64': expected an integer, got str"),
    (dict(batch_size=64.0), '--batch_size=64.0: expected an integer, got float'),
    (dict(spectral_norm=1), '--spectral_norm=1: expected true or false, got int'),
    (dict(g_widths=(256, 'x')), "--g_widths=(256, 'x'): expected comma-separated integers"),
    (dict(lr_g=float('nan')), '--lr_g=nan: must be a finite number'),
    (dict(lr_d=float('inf')), '--lr_d=inf: must be a finite number'),
    (dict(gp_weight=float('-inf')), '--gp_weight=-inf: must be a finite number'),
    (dict(beta1=5), '--beta1=5.0: must be below 1'),
    (dict(beta1=-0.1), '--beta1=-0.1: must be at least 0'),
    (dict(label_smoothing=1.0), '--label_smoothing=1.0: must be below 1'),
    (dict(ema_decay=1.5), '--ema_decay=1.5: must be below 1'),
    (dict(g_widths=(0, -5)), '--g_widths=0,-5: each value must be at least 1'),
    (dict(latent_dim=0), '--latent_dim=0: must be at least 1'),
    (dict(eval_samples=5), '--eval_samples=5: must be at least 6'),
    (dict(inception_weights='no/such.h5'), '--inception_weights=no/such.h5: no such '
                                           'file; give a Keras InceptionV3 no-top '
                                           'weights .h5, or none'),
    (dict(arch='mpl'), '--arch=mpl: choose one of dcgan, maxout, mlp, sagan'),
    (dict(noise='cauchy'), '--noise=cauchy: choose one of normal, uniform'),
    (dict(diffaugment='colour'), "--diffaugment=colour: unknown DiffAugment "
                                 "transformation 'colour'"),
    (dict(loss='acgan'), '--loss=acgan needs class labels: add --conditional'),
    (dict(loss='hinge', label_smoothing=0.1), "--label_smoothing=0.1: no effect with "
                                              "loss 'hinge'"),
    (dict(resume=True, overwrite=True), '--resume continues the run and --overwrite '
                                        'replaces it: pass one of them'),
    (dict(run_name='..'), '--run_name=..: must be the name of one folder'),
    (dict(run_name='a/b'), '--run_name=a/b: must be the name of one folder'),
    (dict(run_name='/tmp/x'), '--run_name=/tmp/x: must be the name of one folder'),
    (dict(strategy='multi_worker', max_seconds=60.0), '--max_seconds cannot stop every '
                                                      'worker at the same step'),
])
def test_a_bad_option_is_one_line_naming_its_flag(options, message):
    with pytest.raises(UserError) as error:
        Config(**options)
    assert str(error.value).startswith(message) and '\n' not in str(error.value)


def test_values_are_kept_in_their_fields_types():
    made = Config(lr_g=1, g_widths=[64, 32], ema_decay=0, max_seconds=60)
    assert made.lr_g == 1.0 and isinstance(made.lr_g, float)
    assert made.g_widths == (64, 32) and made.ema_decay == 0.0
    assert isinstance(made.max_seconds, float) and made.epochs is None
    assert dataclasses.replace(made, lr_g=2e-4).lr_g == 2e-4  # replace checks too
    with pytest.raises(UserError):
        dataclasses.replace(made, lr_g=float('nan'))


def test_options_not_given_take_the_architectures_defaults_then_their_own():
    from gan_tf import registry
    sagan = Config(arch='sagan')
    assert (sagan.lr_g, sagan.lr_d) == (1e-4, 4e-4)  # its two time-scale rule
    assert sagan.max_steps == registry.ARCHITECTURES['sagan'].defaults['max_steps']
    assert Config(arch='sagan', lr_g=2e-4).lr_g == 2e-4  # given: the user's
    assert Config(arch='mlp').lr_g == 2e-4 and Config().ema_decay == 0.999
    # The length: steps by default, epochs instead when only they are given.
    assert Config(epochs=3).max_steps is None and Config(epochs=3, max_steps=7).max_steps == 7
    with pytest.raises(UserError, match='--max_steps=none needs --epochs'):
        Config(max_steps=None)


def test_every_float_option_refuses_nan_and_every_bounded_one_its_bound():
    for name, field in config.FIELDS.items():
        kind, _ = config.value_type(field)
        if kind is float:
            with pytest.raises(UserError, match=f'--{name}=nan: must be a finite'):
                Config(**{name: float('nan')})
        below = field.metadata['below']
        if below is not None:
            with pytest.raises(UserError, match=f'--{name}=.*: must be below {below}'):
                Config(**{name: below})


def test_gan_checks_its_keywords_with_the_same_rules():
    assert config.check_gan_options(ema_decay=0.999, r1_weight=1) == dict(
        ema_decay=0.999, r1_weight=1.0)
    with pytest.raises(UserError, match='--r1_weight=nan: must be a finite number'):
        config.check_gan_options(r1_weight=float('nan'))
    with pytest.raises(UserError, match='--d_steps=0: must be at least 1'):
        config.check_gan_options(d_steps=0)
