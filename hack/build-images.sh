#!/usr/bin/env bash
# Build the bot and operator images with podman (no Docker engine): see
# hack/supportbot_dev/images.py. Installs podman/buildah/runc/mmdebstrap with apt-get when
# missing (root), makes the local Debian base once, rebuilds an image only when its inputs
# changed. Prints name=reference per image on stdout; progress, sizes and times on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
exec nice -n 10 .venv/bin/python -m supportbot_dev.images "$@"
