from mier_pl.cli.commands import main

main()
