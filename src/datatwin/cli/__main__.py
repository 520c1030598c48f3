"""``python -m datatwin.cli``: the same as the ``datatwin`` command."""

from . import main

main()
