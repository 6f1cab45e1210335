"""Which storage URLs an importer may register over HTTP (no server-side request forgery).

Rules, in order:
- the URL is `https://`, or `http://` for an allow-listed host;
- when the allow-list is not empty, the host must be on it (`host` or `host:port`);
- a host that is not allow-listed must resolve, and only to public addresses: loopback,
  private, link-local (cloud metadata at 169.254.169.254), shared, reserved and
  multicast addresses are refused. An allow-listed host is trusted as it is.

`check` runs when a batch is registered; `check_peer` runs again when its source is
fetched, on the address actually connected to, so that a host resolving to a public
address at registration and to a private one later (DNS rebinding) is still refused.
Redirects are never followed (`import_pipeline.sources`), so a public URL cannot
bounce the fetch to a private address either.
"""

import ipaddress
import socket
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


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone index
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


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
        """Raise `StorageUrlRefusedError`, saying why, unless the pipeline may fetch `url`."""
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
        private = [address for address in addresses if not _is_public(address)]
        if private or not addresses:
            raise StorageUrlRefusedError(
                f"storage host {host!r} resolves to a non-public address "
                f"({', '.join(private) or 'none'}); allow-list it to import from it"
            )

    def check_peer(self, url: str, address: str) -> None:
        """Raise `StorageUrlRefusedError` when a fetch of `url` reached a non-public address.

        An allow-listed host may be anywhere.
        """
        if self.allow_listed(urlsplit(url)) or _is_public(address):
            return
        raise StorageUrlRefusedError(
            f"refused: the connection reached non-public address {address}, "
            "and the host is not allow-listed"
        )
