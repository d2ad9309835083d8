"""``python -m atoll``: the same as the ``atoll`` command."""

from atoll.cli import main

if __name__ == "__main__":
    main()
