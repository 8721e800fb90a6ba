"""mediclear: reconcile and clear cross-region medical-insurance settlements.

The package is a library first; `mediclear_cli.cli` is a thin Typer layer over it. Importing the core
modules never imports Typer or Rich (a test checks this), so the library can run inside other tools.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mediclear")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
