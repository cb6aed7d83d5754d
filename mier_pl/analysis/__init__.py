"""After training: read runs and checkpoints, write tables and figures.

``evaluate`` (re-evaluate checkpoints), ``reproduce`` (Figures 4 and 5 in one command),
``report`` (seeds → mean ± std), ``compare`` (variants side by side), and ``results`` (the
``adapt`` command's and the notebook's tables and figures). Each command runs as
``python -m mier_pl <command>`` (:mod:`mier_pl.cli.commands`). Nothing in the method imports this
package.
"""
