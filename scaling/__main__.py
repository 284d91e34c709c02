"""`python -m scaling` runs the same CLI as the `scaling` console script."""

from scaling.cli import main

if __name__ == "__main__":
    main()
