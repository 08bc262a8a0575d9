"""`python -m harness.cli ARGS` (the UI's jobs and `accelerate launch -m harness.cli train`)."""
import sys

from harness.cli import main

sys.exit(main())
