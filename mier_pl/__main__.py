from mier_pl.cli import main

main()
