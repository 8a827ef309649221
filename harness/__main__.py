"""``python -m harness``: see :mod:`harness.cli`."""
from harness.cli import main_exit

main_exit()
