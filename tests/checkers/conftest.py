"""Make the test folder's history builders importable as `histories`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
