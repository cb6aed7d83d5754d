"""docs/results.md: MIER (release settings) and the oracle context on cheetah-vel, seed 0, at equal env steps, from both runs' metrics.csv (run from the project root: python scripts/cheetah_vel_oracle_table.py)."""

import csv


def ser(p, k):
    with open(p) as f:
        return {int(float(r["epoch"])): float(r[k]) for r in csv.DictReader(f) if r.get(k)}


m = "lightning_logs/cheetah-vel/version_0/metrics.csv"
o = "lightning_logs/cheetah-vel-oracle/version_0/metrics.csv"
mt, mw, ms = (
    ser(m, "eval/train_return"),
    ser(m, "eval/test_return_mier_wr"),
    ser(m, "progress/env_steps"),
)
ot, ow = ser(o, "eval/train_return"), ser(o, "eval/test_return_oracle")
print("| epoch | env steps | MIER train | oracle train | MIER-wR test | oracle test |")
print("|---|---|---|---|---|---|")
for e in sorted(set(mt) & set(ot)):
    print(f"| {e + 1} | {ms[e]:,.0f} | {mt[e]:.1f} | {ot[e]:.1f} | {mw[e]:.1f} | {ow[e]:.1f} |")
