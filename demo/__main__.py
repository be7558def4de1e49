"""`python -m demo [--keep]`."""

import argparse
import sys

from demo.story import run_demo

parser = argparse.ArgumentParser(prog="python -m demo", description="offline demo against the ARM emulator")
parser.add_argument("--keep", action="store_true", help="leave the demo's working directory in place")
sys.exit(run_demo(keep=parser.parse_args().keep))
