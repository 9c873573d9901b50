"""The outbound-address policy: where server connections may go.

A host is resolved once; every address it resolves to is checked; the driver then connects
to the first (pinned) address, so a name that resolves differently a moment later (DNS
rebinding) cannot switch the target. Checked in this order:

1. always denied: cloud metadata services, link-local and unspecified addresses
   (IPv4-mapped and NAT64 forms included);
2. querydeck's own listeners: the API's host and port, and the app database's host and
   port when it is a server;
3. the admin's deny list (CIDR);
4. the admin's allow list (CIDR), when it is not empty: the address must be in it.

Loopback is allowed unless the deny list says otherwise.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from querydeck.errors import ConnectionTargetForbidden, UpstreamUnavailable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Networks no connection may reach, whatever the admin lists say.
ALWAYS_DENIED: tuple[tuple[str, str], ...] = (
    ("169.254.0.0/16", "link-local (cloud metadata: 169.254.169.254, 169.254.170.2)"),
    ("fe80::/10", "IPv6 link-local"),
    ("fd00:ec2::254/128", "cloud metadata (AWS IPv6)"),
    ("100.100.100.200/32", "cloud metadata (Alibaba Cloud)"),
    ("192.0.0.192/32", "cloud metadata (Oracle Cloud)"),
    ("0.0.0.0/8", "unspecified address"),
    ("::/128", "unspecified address"),
    ("255.255.255.255/32", "broadcast address"),
    ("224.0.0.0/4", "multicast address"),
    ("ff00::/8", "multicast address"),
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOOPBACK_NAMES = ("127.0.0.1", "::1")


def parse_networks(values: Iterable[str], setting: str) -> tuple[IPNetwork, ...]:
    """CIDR texts (a bare address is a /32 or /128) as networks; raises ValueError."""
    networks = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{setting}: {text!r} is not an IP network (CIDR)") from None
    return tuple(networks)


def embedded_v4(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped or NAT64 IPv6 address, else the address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


@dataclass(frozen=True)
class Listener:
    """One of querydeck's own listeners: a host (name, address or wildcard) and a port."""

    host: str
    port: int

    def addresses(self) -> set[IPAddress]:
        try:
            address = ipaddress.ip_address(self.host.strip("[]"))
        except ValueError:
            return set(_resolve_quietly(self.host))
        if address.is_unspecified:  # bound to every interface
            local = set(_resolve_quietly(socket.gethostname()))
            return local | {ipaddress.ip_address(a) for a in _LOOPBACK_NAMES}
        return {embedded_v4(address)}


def _resolve_quietly(host: str) -> list[IPAddress]:
    try:
        return resolve(host)
    except UpstreamUnavailable:
        return []


def resolve(host: str, port: int = 0) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal is itself), in resolver order."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UpstreamUnavailable(
            f"The host name {host!r} cannot be resolved.", detail={"host": host}
        ) from None
    seen: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in seen:
            seen.append(address)
    return seen


@dataclass(frozen=True)
class AddressPolicy:
    """Allow/deny lists plus the always-denied networks and querydeck's own listeners."""

    allow: tuple[IPNetwork, ...] = ()
    deny: tuple[IPNetwork, ...] = ()
    listeners: tuple[Listener, ...] = ()
    always_denied: tuple[tuple[IPNetwork, str], ...] = field(
        default_factory=lambda: tuple((ipaddress.ip_network(n), why) for n, why in ALWAYS_DENIED)
    )

    def refusal(self, address: IPAddress, port: int) -> str | None:
        """Why ``address:port`` is denied, or None when it is allowed."""
        candidates = {address, embedded_v4(address)}
        for network, why in self.always_denied:
            if any(a.version == network.version and a in network for a in candidates):
                return why
        for listener in self.listeners:
            if port == listener.port and candidates & listener.addresses():
                return "querydeck's own listener"
        if any(a.version == n.version and a in n for n in self.deny for a in candidates):
            return "denied by the outbound_deny setting"
        if self.allow and not any(
            a.version == n.version and a in n for n in self.allow for a in candidates
        ):
            return "not in the outbound_allow setting"
        return None

    def pin(self, host: str, port: int, engine: str) -> str:
        """Resolve ``host`` once, check every address, and return the one to connect to."""
        addresses = resolve(host, port)
        if not addresses:
            raise UpstreamUnavailable(f"The host name {host!r} has no address.")
        for address in addresses:
            why = self.refusal(address, port)
            if why is not None:
                raise ConnectionTargetForbidden(
                    f"The {engine} host {host!r} is not an allowed target ({why}).",
                    detail={"option": "host", "reason": why},
                )
        return str(addresses[0])


def policy_for(
    allow: Sequence[str], deny: Sequence[str], listeners: Sequence[tuple[str, int]]
) -> AddressPolicy:
    return AddressPolicy(
        allow=parse_networks(allow, "outbound_allow"),
        deny=parse_networks(deny, "outbound_deny"),
        listeners=tuple(Listener(h, p) for h, p in listeners),
    )


#: The policy of a driver used outside a Workbench: only the always-denied networks.
DEFAULT_POLICY = AddressPolicy()
