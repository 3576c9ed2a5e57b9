import sys

from nodestudio.cli import main

sys.exit(main())
