"""Makes `python -m sockcourse ...` run the course's command line (see sockcourse/cli/)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main(prog="python -m sockcourse"))
