"""Checkerboard artifacts at random initialisation: one figure and one table for every upsampler.

    python scripts/checkerboard_at_init.py [--out runs/checkerboard_at_init] [--seeds 5]

Same as ``python -m gan_upsample checkerboard``.
"""

from gan_upsample.__main__ import checkerboard

if __name__ == "__main__":
    import sys

    checkerboard(sys.argv[1:])
