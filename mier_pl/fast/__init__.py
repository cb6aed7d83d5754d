"""Speed-only and device-only code: the one seam between the method and its fast paths.

Nothing here changes what is computed, only how fast; each piece can be read, tested and turned
off on its own (measured gains: BENCHMARKS.md):

- :mod:`~mier_pl.fast.acting`: ``ActingSnapshot``, the actor's forward pass for a few rows per
  step (NumPy on the host); off: ``--model.init_args.sac.snapshot_acting false``
  (plain ``TanhGaussianActor.act``).
- :mod:`~mier_pl.fast.cuda_graph`: the capture-safe training step; off by default
  (``--model.init_args.cuda_graph true`` turns it on, on CUDA only).
- :mod:`~mier_pl.fast.checkpoint_key`: ``LastCheckpoint``'s ``state_key`` built once instead
  of at every hook call; off: drop ``CachedStateKey`` from its bases.
- :mod:`~mier_pl.fast.hook_dispatch`: cheaper Lightning hook dispatch; off:
  ``--trainer.profiler`` any profiler, ``MIER_FAST_HOOKS=0`` for the hook-name shortcut.
- :mod:`~mier_pl.fast.meta_world_obs`: Meta-World's observation without SciPy's per-call
  overhead; off: ``MIER_FAST_METAWORLD_OBS=0`` (or :func:`~mier_pl.fast.meta_world_obs.uninstall`).
- :mod:`~mier_pl.fast.step_logging`: a training step's scalars straight to Lightning's logger
  connector (private API) instead of through ``self.log``, on logging steps only; no switch
  (the plain form is ``self.log_dict``).
- :mod:`~mier_pl.fast.precision`: float32 matmul precision (TF32) per call site;
  ``--matmul_precision highest`` (the default) keeps full float32.

It imports only torch, NumPy, Lightning, :mod:`mier_pl.nets` and :mod:`mier_pl.data.batch`, so
every layer above ``nets/`` may use it.
"""
