"""`python -m cio_shared.messages` prints the v1 JSON Schema (the file under schemas/);
`python -m cio_shared.messages transactional` the transactional one."""

import sys

from cio_shared.messages.models import json_schema_text
from cio_shared.messages.transactional import transactional_schema_text

if sys.argv[1:] == ["transactional"]:
    sys.stdout.write(transactional_schema_text())
else:
    sys.stdout.write(json_schema_text())
