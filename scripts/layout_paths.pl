# Rewrites module paths, file paths and commands from the layout before issue 28 to the one
# after it, in place (this file left out): perl -pi scripts/layout_paths.pl FILES...
# For branches started before the move; delete once they are merged. In mier_pl/ only, then
# replace `spec §N` by `docs/algorithm.md §N` (its sections follow the spec's numbers).
# commands first
s{python -m mier_pl\.(evaluate|reproduce|report|compare)\b}{python -m mier_pl $1}g;
s{python -m mier_pl\.bench\b}{python -m benchmarks}g;
s{"-m",\s*"mier_pl\.(evaluate|reproduce|report|compare)"}{"-m", "mier_pl", "$1"}g;
# dotted module paths
s{mier_pl\.cli(?![\w.]| import)}{mier_pl.cli.main}g;
s{mier_pl\.(parser|resume|loggers)\b}{mier_pl.cli.$1}g;
s{mier_pl\.adapt\b(?!_)}{mier_pl.cli.adapt_trainer}g;
s{mier_pl\.(evaluate|reproduce|report|compare|results)\b}{mier_pl.analysis.$1}g;
s{mier_pl\.(hook_dispatch|precision)\b}{mier_pl.fast.$1}g;
s{mier_pl\.modules\.graph\b}{mier_pl.fast.cuda_graph}g;
s{mier_pl\.envs\.meta_world_obs\b}{mier_pl.fast.meta_world_obs}g;
s{from mier_pl\.envs import make_env, meta_world_obs}{from mier_pl.envs import make_env\nfrom mier_pl.fast import meta_world_obs}g;
s{from mier_pl\.envs import meta_world_obs}{from mier_pl.fast import meta_world_obs}g;
s{mier_pl\.render\b}{mier_pl.data.video}g;
s{mier_pl\.nets\.sac\b(?!_)}{mier_pl.nets.sac_nets}g;
s{mier_pl\.functional\.sac\b(?!_)}{mier_pl.functional.sac_losses}g;
s{from mier_pl\.functional import sac as F}{from mier_pl.functional import sac_losses as F}g;
s{mier_pl\.modules\.sac\b(?!_)}{mier_pl.modules.context_sac}g;
s{mier_pl\.functional\.relabel\b(?!_)}{mier_pl.functional.relabeling}g;
s{mier_pl\.data\.relabel\b(?!_)}{mier_pl.data.relabel_replay}g;
s{mier_pl\.callbacks\.relabel\b(?!_)}{mier_pl.callbacks.relabel_callback}g;
s{mier_pl\.callbacks\.resume\b}{mier_pl.callbacks.optimizer_settings}g;
s{mier_pl\.modules\.adapt\b(?!_)}{mier_pl.modules.adapt_module}g;
s{mier_pl\.functional\.pearl\b(?!_)}{mier_pl.functional.pearl_posterior}g;
s{from mier_pl\.functional import pearl as P}{from mier_pl.functional import pearl_posterior as P}g;
s{mier_pl\.envs\.base\b}{mier_pl.envs.meta_env}g;
s{mier_pl\.bench\.meta_world_obs\b}{benchmarks.meta_world_obs_speed}g;
s{mier_pl\.bench\b}{benchmarks}g;
# file paths
s{(?<![\w/])((?:mier_pl/)?)nets/sac\.py}{$1nets/sac_nets.py}g;
s{(?<![\w/])((?:mier_pl/)?)functional/sac\.py}{$1functional/sac_losses.py}g;
s{(?<![\w/])((?:mier_pl/)?)modules/sac\.py}{$1modules/context_sac.py}g;
s{(?<![\w/])((?:mier_pl/)?)functional/relabel\.py}{$1functional/relabeling.py}g;
s{(?<![\w/])((?:mier_pl/)?)data/relabel\.py}{$1data/relabel_replay.py}g;
s{(?<![\w/])((?:mier_pl/)?)callbacks/relabel\.py}{$1callbacks/relabel_callback.py}g;
s{(?<![\w/])((?:mier_pl/)?)callbacks/resume\.py}{$1callbacks/optimizer_settings.py}g;
s{(?<![\w/])((?:mier_pl/)?)modules/adapt\.py}{$1modules/adapt_module.py}g;
s{(?<![\w/])((?:mier_pl/)?)functional/pearl\.py}{$1functional/pearl_posterior.py}g;
s{(?<![\w/])((?:mier_pl/)?)envs/base\.py}{$1envs/meta_env.py}g;
s{(?<![\w/])((?:mier_pl/)?)modules/graph\.py}{$1fast/cuda_graph.py}g;
s{(?<![\w/])((?:mier_pl/)?)envs/meta_world_obs\.py}{$1fast/meta_world_obs.py}g;
s{(?<![\w/])(?:mier_pl/)?bench/meta_world_obs\.py}{benchmarks/meta_world_obs_speed.py}g;
s{(?<![\w/])mier_pl/bench\b/?}{benchmarks/}g;
s{(?<![\w/])bench/(\w+\.py)}{benchmarks/$1}g;
s{(?<![\w/.])((?:mier_pl/)?)cli\.py}{$1cli/main.py}g;
s{(?<![\w/.])((?:mier_pl/)?)(parser|resume|loggers)\.py}{$1cli/$2.py}g;
s{(?<![\w/.])((?:mier_pl/)?)adapt\.py}{$1cli/adapt_trainer.py}g;
s{(?<![\w/.])((?:mier_pl/)?)(evaluate|reproduce|report|compare|results)\.py}{$1analysis/$2.py}g;
s{(?<![\w/.])((?:mier_pl/)?)(hook_dispatch|precision)\.py}{$1fast/$2.py}g;
s{(?<![\w/.])((?:mier_pl/)?)render\.py}{$1data/video.py}g;
# moved tests
s{tests/modules/test_(cli_adapt|cli_fit|cli_meta_world|kill_resume)\.py}{tests/cli/test_$1.py}g;
s{tests/modules/test_graph_step\.py}{tests/fast/test_cuda_graph.py}g;
s{tests/test_(compare|evaluate|report|reproduce|results)\.py}{tests/analysis/test_$1.py}g;
s{tests/test_(parser|loggers|resume)\.py}{tests/cli/test_$1.py}g;
s{tests/test_hook_dispatch\.py}{tests/fast/test_hook_dispatch.py}g;
s{tests/test_render\.py}{tests/data/test_video.py}g;
s{tests/test_gpu_check\.py}{tests/benchmarks/test_gpu_check.py}g;
s{tests/bench/test_bench_runs\.py}{tests/benchmarks/test_bench_runs.py}g;
s{tests/bench\b}{tests/benchmarks}g;
s{tests/notebooks/test_results_notebook\.py}{tests/analysis/test_results_notebook.py}g;
s{tests/functional/test_sac\.py}{tests/functional/test_sac_losses.py}g;
s{tests/functional/test_relabel\.py}{tests/functional/test_relabeling.py}g;
s{tests/data/test_relabel\.py}{tests/data/test_relabel_replay.py}g;
s{benchmarks\.meta_world_obs\b(?!_)}{benchmarks.meta_world_obs_speed}g;
s{-m mier_pl\.analysis\.(evaluate|reproduce|report|compare)\b}{-m mier_pl $1}g;
# moved after main's probe/published merge
s{mier_pl\.figure2\b}{mier_pl.analysis.figure2}g;
s{mier_pl\.published\b}{mier_pl.analysis.published}g;
s{mier_pl/published\b}{mier_pl/analysis/published}g;
s{(?<![\w/])((?:mier_pl/)?)figure2\.py}{$1analysis/figure2.py}g;
s{tests/test_published\.py}{tests/analysis/test_published.py}g;
s{^from mier_pl import published$}{from mier_pl.analysis import published};
