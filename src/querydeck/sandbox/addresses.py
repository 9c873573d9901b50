"""The outbound-address policy: where server connections may go.

A host is resolved once; every address it resolves to is checked; the driver then connects
to the first (pinned) address, so a name that resolves differently a moment later (DNS
rebinding) cannot switch the target. Checked in this order:

1. always denied: cloud metadata services, link-local and unspecified addresses;
2. querydeck's own listeners: the address and port the API server actually bound (and the
   ``host``/``port`` settings), and the app database's host and port when it is a server;
3. the admin's deny list (CIDR);
4. the admin's allow list (CIDR), when it is not empty: the address must be in it.

Loopback is allowed unless the deny list says otherwise.

Every check sees an IPv6 address together with each IPv4 address embedded in it
(:func:`embedded_v4s`: IPv4-compatible, IPv4-mapped and -translated, 6to4, Teredo server and
client, NAT64 well-known and local-use prefixes, ISATAP): a denied IPv4 address is denied in
every spelling, and an allow list of IPv4 networks admits an IPv6 address only when every
IPv4 address it embeds is allowed.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
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
_V4 = ipaddress.IPv4Address
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible ::a.b.c.d
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT ::ffff:0:a.b.c.d
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use prefixes
_ISATAP_MASK, _ISATAP_ID = 0xFCFFFFFF, 0x00005EFE  # interface id [0-3]00:5efe:a.b.c.d
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


def _rfc6052(value: int) -> list[ipaddress.IPv4Address]:
    """The IPv4 address at each position RFC 6052 allows for a /48../96 NAT64 prefix (the
    octet of bits 64-71 is skipped). An address in ``0.0.0.0/8`` at a position is the
    padding of another prefix length, never a target a gateway translates to: skipped."""
    octets = value.to_bytes(16, "big")
    spots = ((6, 7, 9, 10), (7, 9, 10, 11), (9, 10, 11, 12), (12, 13, 14, 15))
    found = [_V4(bytes(octets[i] for i in where)) for where in spots]
    return [a for a in found if a.packed[0]]


def embedded_v4s(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """Every IPv4 address embedded in an IPv6 address (empty for an IPv4 address or an IPv6
    address that embeds none): IPv4-compatible (``::a.b.c.d``, except ``::`` and ``::1``),
    mapped (``::ffff:a.b.c.d``), translated (``::ffff:0:a.b.c.d``), 6to4 (``2002::/16``),
    Teredo (``2001::/32``: the server and the de-obfuscated client), NAT64 (``64:ff9b::/96``
    and every RFC 6052 position under ``64:ff9b:1::/48``) and ISATAP (an interface
    identifier ``0:5efe:a.b.c.d`` or ``200:5efe:a.b.c.d`` under any prefix)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return ()
    value = int(address)
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        server, client = address.teredo
        found += [server, client, _V4(value & 0xFFFFFFFF)]  # obfuscated or not
    if address in _COMPATIBLE and value > 1:
        found.append(_V4(value))
    if address in _TRANSLATED or address in _NAT64:
        found.append(_V4(value & 0xFFFFFFFF))
    if address in _NAT64_LOCAL:
        found += _rfc6052(value)
    if (value >> 32) & _ISATAP_MASK == _ISATAP_ID:
        found.append(_V4(value & 0xFFFFFFFF))
    return tuple(dict.fromkeys(found))


def embedded_v4(address: IPAddress) -> IPAddress:
    """The first IPv4 address embedded in ``address`` (see :func:`embedded_v4s`), else the
    address itself."""
    inner = embedded_v4s(address)
    return inner[0] if inner else address


def spellings(address: IPAddress) -> tuple[IPAddress, ...]:
    """``address`` and every IPv4 address embedded in it: what each rule is checked on."""
    return (address, *embedded_v4s(address))


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
        return set(spellings(address))


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


def _within(address: IPAddress, network: IPNetwork) -> bool:
    return address.version == network.version and address in network


class BoundListeners:
    """The listeners the running server has actually bound, added once it has bound them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: tuple[Listener, ...] = ()

    def add(self, listener: Listener) -> None:
        with self._lock:
            if listener not in self._listeners:
                self._listeners = (*self._listeners, listener)

    def listeners(self) -> tuple[Listener, ...]:
        return self._listeners


@dataclass(frozen=True)
class AddressPolicy:
    """Allow/deny lists plus the always-denied networks and querydeck's own listeners."""

    allow: tuple[IPNetwork, ...] = ()
    deny: tuple[IPNetwork, ...] = ()
    listeners: tuple[Listener, ...] = ()
    bound: BoundListeners = field(default_factory=lambda: BoundListeners(), compare=False)
    always_denied: tuple[tuple[IPNetwork, str], ...] = field(
        default_factory=lambda: tuple((ipaddress.ip_network(n), why) for n, why in ALWAYS_DENIED)
    )

    def refusal(self, address: IPAddress, port: int) -> str | None:
        """Why ``address:port`` is denied, or None when it is allowed."""
        candidates = spellings(address)
        for network, why in self.always_denied:
            if any(_within(a, network) for a in candidates):
                return why
        for listener in (*self.listeners, *self.bound.listeners()):
            if port == listener.port and set(candidates) & listener.addresses():
                return "querydeck's own listener"
        if any(_within(a, n) for n in self.deny for a in candidates):
            return "denied by the outbound_deny setting"
        if self.allow and not self._allowed(candidates):
            return "not in the outbound_allow setting"
        return None

    def _allowed(self, candidates: tuple[IPAddress, ...]) -> bool:
        """The address itself is in the allow list, or it embeds IPv4 addresses that all are."""
        address, *inner = candidates
        if any(_within(address, n) for n in self.allow):
            return True
        return bool(inner) and all(any(_within(a, n) for n in self.allow) for a in inner)

    def add_listener(self, host: str, port: int) -> None:
        """Record an address and port querydeck's server has bound (``serve --host/--port``)."""
        self.bound.add(Listener(host, port))

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
