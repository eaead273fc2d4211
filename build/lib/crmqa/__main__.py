"""`python -m crmqa` is `crmqa`."""

from crmqa.cli.main import main

main()
