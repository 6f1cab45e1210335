"""The storage URL policy on its own: which hosts and addresses it lets through.

Host names resolve through an injected table; IP literals through the real resolver.
"""

import re

import pytest

from import_pipeline.services.storage_policy import (
    StoragePolicy,
    StorageUrlRefusedError,
    resolve_host,
)

NAMES = {
    "public.example": ["93.184.215.14"],
    "internal.example": ["10.1.2.3"],
    "mixed.example": ["93.184.215.14", "127.0.0.1"],
    "shared.example": ["100.64.0.1"],
}


def table_resolver(host, port):
    if host in NAMES:
        return NAMES[host]
    return resolve_host(host, port)


def policy(*allowlist):
    return StoragePolicy(
        allowlist=StoragePolicy.from_entries(allowlist).allowlist, resolve=table_resolver
    )


@pytest.mark.parametrize(
    "url", ["https://public.example/a.jsonl", "https://93.184.215.14:8443/a.jsonl.gz"]
)
def test_public_https_is_accepted(url):
    policy().check(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://internal.example/a", "non-public address (10.1.2.3)"),
        ("https://mixed.example/a", "non-public address (127.0.0.1)"),
        ("https://shared.example/a", "non-public address (100.64.0.1)"),
        ("https://224.0.0.1/a", "non-public address (224.0.0.1)"),
        ("https://[fe80::1]/a", "non-public address (fe80::1)"),
        ("https://[fd00::1]/a", "non-public address (fd00::1)"),
        ("http://public.example/a", "must use https"),
        ("https://no-such-host.invalid/a", "cannot be resolved"),
        ("ftp://public.example/a", "is not an http(s) URL"),
        ("https://public.example:99999/a", "is not a valid URL: Port out of range"),
    ],
)
def test_refusals_say_why(url, reason):
    with pytest.raises(StorageUrlRefusedError, match=re.escape(reason)):
        policy().check(url)


def test_an_allow_listed_host_is_trusted_without_resolving():
    def no_resolving(host, port):
        raise AssertionError("an allow-listed host must not be resolved")

    trusting = StoragePolicy(allowlist=frozenset({"internal.example"}), resolve=no_resolving)
    trusting.check("http://internal.example/a.jsonl")


def test_ipv6_entries_with_a_port():
    policy("[::1]:8000").check("http://[::1]:8000/a.jsonl")
    with pytest.raises(StorageUrlRefusedError):
        policy("[::1]:8000").check("http://[::1]:8001/a.jsonl")
