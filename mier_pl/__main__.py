from mier_pl.cli.commands import main

status = main()
if isinstance(status, int):  # a command that reports its verdict as an exit code (check_family)
    raise SystemExit(status)
