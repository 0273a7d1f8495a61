#!/usr/bin/env bash
# Debian's rabbitmq-server, for the tests against a real broker (each test
# starts a private node of its own on loopback). Installed when missing,
# without starting Debian's own service, which would listen beyond loopback;
# needs root (CI runs as root).
set -euo pipefail
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] && exit 0
echo "installing rabbitmq-server ..."
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# no service starts while chaos-monkey installs packages\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    made_policy=1
fi
trap 'if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
# In case a service manager started it anyway.
systemctl stop rabbitmq-server >/dev/null 2>&1 || service rabbitmq-server stop >/dev/null 2>&1 || true
