import sys

if sys.argv[1:2] == ["check_family"]:  # the family checker: mier_pl/envs/check.py
    from mier_pl.envs.check import main as check_family

    raise SystemExit(check_family(sys.argv[2:]))

from mier_pl.cli import main

main()
