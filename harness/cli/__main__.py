"""`python -m harness.cli ...` is `thinkbench ...`."""
import sys

from harness.cli import main

sys.exit(main())
