"""The commands: ``python -m mier_pl fit|adapt|evaluate|reproduce|report|compare``.

:mod:`mier_pl.cli.commands` dispatches; :mod:`mier_pl.cli.main` is the LightningCLI (``fit``,
``adapt``) with its argument links; :mod:`mier_pl.cli.adapt_trainer` runs Algorithm 2 per test
task. Nothing in the method (``envs``, ``nets``, ``functional``, ``data``, ``modules``,
``callbacks``) imports this package.
"""
