#!/usr/bin/env bash
# The tools the release tests build with: Debian's rebar3 (relx releases)
# and elixir (mix releases). Installed when missing; needs root (CI runs as root).
set -euo pipefail
missing=()
command -v rebar3 >/dev/null 2>&1 || missing+=(rebar3)
command -v mix >/dev/null 2>&1 || missing+=(elixir)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
