"""`python -m mediclear_cli` runs the same CLI as the `mediclear` console script."""

from mediclear_cli.cli import main

main()
