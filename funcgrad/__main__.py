"""`python -m funcgrad`: command-line tools (`inspect`); see funcgrad/inspect/cli.py."""
from .inspect.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
