"""``python -m datatwin.web DATA_DIR``: run one job worker (what ``datatwin serve`` starts)."""

from ._worker import main

main()
