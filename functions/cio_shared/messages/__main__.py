"""`python -m cio_shared.messages` prints the v1 JSON Schema (the file under schemas/)."""

import sys

from cio_shared.messages.models import json_schema_text

sys.stdout.write(json_schema_text())
