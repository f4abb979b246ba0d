"""`python -m cio_doctor` runs the same CLI as the `cio-doctor` console script."""

from cio_doctor.cli import main

main()
