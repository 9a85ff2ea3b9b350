"""``python -m supportbot_dev.phone``: serve the phone simulator page (see `cli`)."""

from __future__ import annotations

import sys

from supportbot_dev.phone.cli import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
