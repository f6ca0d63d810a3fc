"""``python -m reidbench``: the command line, e.g. under ``torchrun --nproc_per_node N -m reidbench run ...``."""
import sys

from reidbench.cli import main

sys.exit(main())
