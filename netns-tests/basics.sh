#!/usr/bin/env bash
# Proves that this machine gives ferry's end-to-end tests what they need: network
# namespaces, veth pairs between them, TUN devices inside them, and the ferry binary.
#
#   ┌──────── ns "a" ────────┐          ┌──────── ns "b" ────────┐
#   │ veth-a 192.0.2.1/24    ├──────────┤ veth-b 192.0.2.2/24    │
#   │        fd00:2::1/64    │   veth   │        fd00:2::2/64    │
#   │ tun-a  10.99.0.1/24    │          │                        │
#   └────────────────────────┘          └────────────────────────┘
#
# Usage: basics.sh FERRY-BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: basics.sh FERRY-BINARY}

netns_init
netns_add a a
netns_add b b
A() { ip netns exec "$a" "$@"; }
B() { ip netns exec "$b" "$@"; }

ip link add veth-a netns "$a" type veth peer name veth-b netns "$b"
A ip addr add 192.0.2.1/24 dev veth-a
B ip addr add 192.0.2.2/24 dev veth-b
A ip -6 addr add fd00:2::1/64 dev veth-a nodad
B ip -6 addr add fd00:2::2/64 dev veth-b nodad
A ip link set veth-a up
B ip link set veth-b up

check "namespaces exist" ip netns pid "$a"
check "veth IPv4 a -> b" A ping -c 2 -i 0.2 -W 2 192.0.2.2
check "veth IPv6 b -> a" B ping -6 -c 2 -i 0.2 -W 2 fd00:2::1
check "namespaces are isolated (a cannot see veth-b)" bash -c "! ip netns exec '$a' ip link show veth-b"

check "TUN device in a namespace" A ip tuntap add dev tun-a mode tun
A ip addr add 10.99.0.1/24 dev tun-a
A ip link set tun-a up
check "TUN link is up" bash -c "ip netns exec '$a' ip -o link show tun-a | grep -q ',UP'"
check "route through the TUN" bash -c "ip netns exec '$a' ip route get 10.99.0.7 | grep -q 'dev tun-a'"

check "ferry runs inside a namespace" A "$ferry" version
check "ferry genkey | ferry pubkey" bash -c "'$ferry' genkey | '$ferry' pubkey | grep -Eq '^[A-Za-z0-9+/]{43}=$'"

netns_finish
