"""Which storage URLs an importer may register over HTTP (no server-side request forgery).

Rules, in order:
- the URL carries no user information (`https://user:password@host/...`): credentials
  would be stored with the batch and shown wherever its URL is, so they are refused
  (and the refusal does not repeat the URL);
- the URL is `https://`, or `http://` for an allow-listed host;
- when the allow-list is not empty, the host must be on it (`host` or `host:port`);
- a host that is not allow-listed must resolve, and only to public addresses (see
  `is_public_address`): loopback, private, link-local (cloud metadata at
  169.254.169.254), shared, reserved, documentation and multicast addresses are
  refused, and so is an IPv6 address that embeds a non-public IPv4 one (IPv4-mapped
  `::ffff:127.0.0.1`, IPv4-compatible `::127.0.0.1`, NAT64 `64:ff9b::7f00:1`, 6to4
  `2002:7f00:1::`, Teredo). An allow-listed host is trusted as it is.

`check` runs when a batch is registered; `check_peer` runs again when its source is
fetched, on the address actually connected to, so that a host resolving to a public
address at registration and to a private one later (DNS rebinding) is still refused.
Redirects are never followed (`import_pipeline.sources`), so a public URL cannot
bounce the fetch to a private address either.
"""

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from import_pipeline.domain.errors import DomainError

_DEFAULT_PORTS = {"http": 80, "https": 443}


class StorageUrlRefusedError(DomainError):
    """A storage URL the policy does not allow the pipeline to fetch."""


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (raises `OSError` when it does not resolve)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _normalised_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _allow_list_entry(entry: str) -> str:
    """`host` or `host:port`, lower-cased; an IPv6 host keeps brackets before a port."""
    entry = entry.strip().lower()
    if entry.startswith("[") and "]:" in entry:
        host, port = entry[1:].split("]:", 1)
        return f"[{_normalised_host(host)}]:{port}"
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return f"{_normalised_host(host)}:{port}"
    return _normalised_host(entry)


# IPv6 forms whose last 32 bits are the IPv4 address actually reached: IPv4-compatible
# (deprecated, RFC 4291) and the well-known NAT64 prefix (RFC 6052). The standard
# library decodes IPv4-mapped, 6to4 and Teredo addresses itself.
_LAST_32_BITS_IPV4 = (ipaddress.IPv6Network("::/96"), ipaddress.IPv6Network("64:ff9b::/96"))
# IPv6 global unicast space (RFC 4291, IANA): every public IPv6 address is inside it.
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
# Not globally reachable (IANA special-purpose registries), though the `is_global` of
# older Pythons (3.11.7 among them) says they are; newer ones agree with this table.
_NOT_GLOBAL: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.IPv4Network("192.0.0.0/24"),  # IETF protocol assignments (RFC 6890)
    ipaddress.IPv6Network("3fff::/20"),  # documentation (RFC 9637)
)


def _address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone index


def embedded_ipv4(address: str) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for; empty for any other address.

    IPv4-mapped and IPv4-compatible addresses, NAT64 (`64:ff9b::/96`) and 6to4 embed one;
    a Teredo address embeds its server's and its client's (the client's is the bitwise
    NOT of the last 32 bits).
    """
    ip = _address(address)
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.teredo is not None:
        return list(ip.teredo)
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.is_loopback or ip.is_unspecified:  # `::1` and `::`, not IPv4-compatible
        return []
    if any(ip in network for network in _LAST_32_BITS_IPV4):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)]
    return []


def _is_global(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip not in _GLOBAL_UNICAST:
        return False
    return ip.is_global and not ip.is_multicast and not any(ip in net for net in _NOT_GLOBAL)


def is_public_address(address: str) -> bool:
    """True for an address on the public internet; an IPv6 form of IPv4 by what it embeds."""
    embedded = embedded_ipv4(address)
    if embedded:
        return all(_is_global(ip) for ip in embedded)
    return _is_global(_address(address))


def _described(address: str) -> str:
    """`address`, with the IPv4 addresses it stands for, e.g. `::7f00:1 (IPv4 127.0.0.1)`."""
    embedded = embedded_ipv4(address)
    if not embedded:
        return address
    return f"{address} (IPv4 {', '.join(map(str, embedded))})"


def has_user_info(url: str) -> bool:
    """True when `url` names a user (`user@host`, `user:password@host`, even `@host`).

    Read from the text, before any parsing, so that no parser's error message can repeat
    a password: the authority is what follows `//` up to the next `/`, `?` or `#`, and
    counts as naming a user when it holds an `@`, also once NFKC-normalised (as `urlsplit`
    reads it).
    """
    _, slashes, rest = url.partition("//")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0] if slashes else ""
    return "@" in unicodedata.normalize("NFKC", authority)


USER_INFO_REFUSED = (
    "must not contain user information (user:password@): credentials are never stored; "
    "use a URL that needs none, such as a pre-signed one"
)


@dataclass(frozen=True)
class StoragePolicy:
    """The allow-list and the rules above; `check` raises on a refused URL."""

    allowlist: frozenset[str] = frozenset()
    resolve: Callable[[str, int], list[str]] = field(default=resolve_host, compare=False)

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> "StoragePolicy":
        """A policy allowing `host` or `host:port` entries (case-insensitive)."""
        return cls(allowlist=frozenset(_allow_list_entry(entry) for entry in entries if entry))

    def allow_listed(self, parts: SplitResult) -> bool:
        """True when the URL's host, or host and port, is on the allow-list."""
        host = _normalised_host(parts.hostname or "")
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
        with_port = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return host in self.allowlist or with_port in self.allowlist

    def check(self, url: str) -> None:
        """Raise `StorageUrlRefusedError`, saying why, unless the pipeline may fetch `url`.

        User information is refused first, without repeating the URL; other refusals
        name it.
        """
        if has_user_info(url):
            raise StorageUrlRefusedError(f"storage URL {USER_INFO_REFUSED}")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises ValueError for a bad port)
        except ValueError as error:
            raise StorageUrlRefusedError(
                f"storage URL {url!r} is not a valid URL: {error}"
            ) from None
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise StorageUrlRefusedError(f"storage URL {url!r} is not an http(s) URL with a host")
        host = _normalised_host(parts.hostname)
        if self.allow_listed(parts):
            return
        if self.allowlist:
            raise StorageUrlRefusedError(
                f"storage host {host!r} is not on the allow-list "
                "(IMPORT_PIPELINE_STORAGE_ALLOWLIST)"
            )
        if parts.scheme != "https":
            raise StorageUrlRefusedError(
                f"storage URL {url!r} must use https (http only for allow-listed hosts)"
            )
        try:
            addresses = self.resolve(host, parts.port or _DEFAULT_PORTS[parts.scheme])
        except (OSError, UnicodeError) as error:
            raise StorageUrlRefusedError(
                f"storage host {host!r} cannot be resolved ({error})"
            ) from None
        private = [_described(address) for address in addresses if not is_public_address(address)]
        if private or not addresses:
            raise StorageUrlRefusedError(
                f"storage host {host!r} resolves to a non-public address "
                f"({', '.join(private) or 'none'}); allow-list it to import from it"
            )

    def check_peer(self, url: str, address: str) -> None:
        """Raise `StorageUrlRefusedError` when a fetch of `url` reached a non-public address.

        An allow-listed host may be anywhere.
        """
        if self.allow_listed(urlsplit(url)) or is_public_address(address):
            return
        raise StorageUrlRefusedError(
            f"refused: the connection reached non-public address {_described(address)}, "
            "and the host is not allow-listed"
        )
