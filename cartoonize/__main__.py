"""``python -m cartoonize COMMAND ...``: the command-line tools under one name.

Usage: ``python -m cartoonize video in.mp4 out.mp4``
"""

from cartoonize.tools.cli import main

if __name__ == "__main__":
    main()
