#!/usr/bin/env bash
# Installs the third-party peers the tests and the bench talk to, from Debian, when missing:
# HAProxy (PROXY protocol sender and receiver), nginx with its stream module, and nats-server
# (JetStream, for the fleet event log).
# Does nothing when they are all there; needs root and apt-get otherwise. Safe to run twice.
set -euo pipefail

stream_module() {
  nginx -V 2>&1 | grep -q -- '--with-stream\( \|$\)' && return 0
  [ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || [ -e /usr/share/nginx/modules/ngx_stream_module.so ]
}

need=()
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
if ! command -v nginx >/dev/null 2>&1; then
  need+=(nginx-light libnginx-mod-stream)
elif ! stream_module; then
  need+=(libnginx-mod-stream)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-peers: ${need[*]} missing; installing them needs root and apt-get" >&2
  exit 1
fi
echo "install-peers: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
