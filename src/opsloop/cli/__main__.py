"""``python -m opsloop.cli``: the same as the ``opsloop`` command."""

from opsloop.cli import main

main()
