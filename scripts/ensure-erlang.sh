#!/usr/bin/env bash
# Install Erlang/OTP from the system package manager when `erl` is missing
# (any OTP >= 24 works; Debian 12 gives OTP 25), and start epmd on loopback.
set -euo pipefail

if ! command -v erl >/dev/null 2>&1 || ! command -v erlc >/dev/null 2>&1; then
    echo "Erlang/OTP not found: installing erlang-nox ..." >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
            echo "error: Erlang/OTP is missing and we are not root; install erlang-nox (or any OTP >= 24) first" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq erlang-nox >/dev/null
fi

otp=$(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().')
if [ "$otp" -lt 24 ]; then
    echo "error: Erlang/OTP $otp found; chaos-monkey needs OTP 24 or newer" >&2
    exit 1
fi

# Nodes find each other through epmd; keep it on loopback.
if ! epmd -names >/dev/null 2>&1; then
    ERL_EPMD_ADDRESS=127.0.0.1 epmd -daemon
fi
