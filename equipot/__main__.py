import sys

from equipot.cli import main

sys.exit(main())
