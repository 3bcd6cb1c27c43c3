"""``python -m seqlab``: the command line, as ``torchrun -m seqlab train TASK ...`` starts it in every process."""

import sys

from seqlab.cli import main

sys.exit(main())
