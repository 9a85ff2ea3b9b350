"""`make demo`: the main job.

Today it brings up the local platform (Kubernetes control plane with KWOK nodes, Redis,
PostgreSQL) and explains how to use it; the operator install, example tenants, simulators,
scripted conversations and the phone-simulator page are added as those parts land (issue 6).
"""

from __future__ import annotations

import sys

from supportbot_dev import platform


def main(argv: list[str] | None = None) -> int:
    print(
        "supportbot demo: starting the local platform. The end-to-end tenant demo (operator,\n"
        "example tenants, MSG91/OpenRouter simulators, phone page) is not wired in yet;\n"
        "until then this runs the platform the demo will use.\n",
        file=sys.stderr,
        flush=True,
    )
    return platform.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
