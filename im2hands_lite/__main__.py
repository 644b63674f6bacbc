"""`python -m im2hands_lite ...` is the `im2hands` command."""
import sys

from .cli import main

sys.exit(main())
