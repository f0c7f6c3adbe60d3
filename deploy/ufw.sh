#!/bin/sh
# The same rules as deploy/nftables.conf and deploy/nftables-turn.conf, for servers run with
# ufw. Run as root: `sh ufw.sh diemcau` on the diemcau server, `sh ufw.sh turn` on the coturn
# machine, `sh ufw.sh both` when one machine holds both (coturn then needs its own address for
# 443: see deploy/turnserver.conf).
set -eu
case "${1:-}" in
diemcau | turn | both) ;;
*)
	echo "usage: sh ufw.sh diemcau|turn|both" >&2
	exit 2
	;;
esac
ufw default deny incoming
ufw default allow outgoing
ufw allow 22/tcp comment 'ssh'
if [ "$1" != turn ]; then
	ufw allow 80/tcp comment 'diemcau: ACME and redirect to https'
	ufw allow 443/tcp comment 'diemcau: HTTPS (pages, API, WHIP/WHEP, control channel)'
	ufw allow 8189/udp comment 'diemcau: media (--udp-port)'
fi
if [ "$1" != diemcau ]; then
	ufw allow 3478 comment 'coturn: TURN over UDP and TCP'
	ufw allow 443/tcp comment 'coturn: TURN over TLS'
	ufw allow 49152:65535/udp comment 'coturn: relays (min-port..max-port)'
fi
ufw --force enable
ufw status verbose
