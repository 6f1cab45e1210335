"""The storage URL policy on its own: which hosts and addresses it lets through.

Host names resolve through an injected table; IP literals through the real resolver.
"""

import re

import pytest

from import_pipeline.services.storage_policy import (
    StoragePolicy,
    StorageUrlRefusedError,
    embedded_ipv4,
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


# Addresses that are not on the public internet, in the forms that hide that: an IPv6
# form of a non-public IPv4 address, or a range `is_global` of older Pythons lets by.
NON_PUBLIC = {
    "IPv4-compatible loopback": "::127.0.0.1",
    "IPv4-compatible private": "::10.0.0.1",
    "IPv4-mapped loopback": "::ffff:127.0.0.1",
    "IPv4-mapped metadata": "::ffff:169.254.169.254",
    "NAT64 loopback": "64:ff9b::7f00:1",
    "NAT64 private": "64:ff9b::c0a8:10a",
    "6to4 loopback": "2002:7f00:1::",
    "6to4 private": "2002:a00:1::1",
    "Teredo client loopback": "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "Teredo client private": "2001:0:4136:e378:8000:63bf:f5ff:fffe",
    "IETF protocol assignment": "192.0.0.8",
    "IETF protocol anycast": "192.0.0.9",
    "IPv4-translated (outside 2000::/3)": "::ffff:0:7f00:1",
    "local-use NAT64": "64:ff9b:1::7f00:1",
    "IPv6 documentation": "3fff::1",
    "IPv6 discard-only": "100::1",
    "SRv6 SIDs": "5f00::1",
    "IPv6 multicast": "ff0e::1",
    "unspecified": "::",
    "IPv6 loopback": "::1",
}
PUBLIC = {
    "IPv4": "93.184.215.14",
    "IPv6": "2606:4700:4700::1111",
    "IPv4-mapped": "::ffff:8.8.8.8",
    "IPv4-compatible": "::8.8.8.8",
    "NAT64": "64:ff9b::808:808",
    "6to4": "2002:808:808::1",
    "Teredo": "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
}


def literal_url(address):
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}/a.jsonl"


@pytest.mark.parametrize("address", NON_PUBLIC.values(), ids=NON_PUBLIC.keys())
def test_a_non_public_address_is_refused_in_any_form(address):
    with pytest.raises(StorageUrlRefusedError, match="resolves to a non-public address"):
        policy().check(literal_url(address))
    with pytest.raises(StorageUrlRefusedError, match="reached non-public address"):
        policy().check_peer("https://public.example/a.jsonl", address)


@pytest.mark.parametrize("address", PUBLIC.values(), ids=PUBLIC.keys())
def test_a_public_address_is_accepted_in_any_form(address):
    policy().check(literal_url(address))
    policy().check_peer("https://public.example/a.jsonl", address)


@pytest.mark.parametrize(
    ("address", "described"),
    [
        ("::127.0.0.1", "::127.0.0.1 (IPv4 127.0.0.1)"),
        ("2002:7f00:1::", "2002:7f00:1:: (IPv4 127.0.0.1)"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "2001:0:4136:e378:8000:63bf:80ff:fffe (IPv4 65.54.227.120, 127.0.0.1)"),
        ("::1", "::1"),  # the IPv6 loopback, not an IPv4-compatible 0.0.0.1
        ("10.0.0.1", "10.0.0.1"),
    ],
)  # fmt: skip
def test_a_refusal_names_the_ipv4_addresses_an_ipv6_one_stands_for(address, described):
    with pytest.raises(StorageUrlRefusedError) as at_fetch:
        policy().check_peer("https://public.example/a.jsonl", address)
    assert f"reached non-public address {described}, and" in str(at_fetch.value)
    with pytest.raises(StorageUrlRefusedError) as at_registration:
        policy().check(literal_url(address))
    assert f"resolves to a non-public address ({described});" in str(at_registration.value)


def test_a_teredo_address_embeds_its_server_and_the_inverted_client():
    # RFC 4380's example: server 65.54.227.120, client 192.0.2.45 (bits inverted).
    assert list(map(str, embedded_ipv4("2001:0:4136:e378:8000:63bf:3fff:fdd2"))) == [
        "65.54.227.120",
        "192.0.2.45",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://user:s3cr3t@public.example/a.jsonl",
        "https://s3cr3t@public.example/a.jsonl",
        "https://@public.example/a.jsonl",
        "https://user:s3cr3t@public.example:99999/a.jsonl",  # no port error repeats it
        "https://user:s3cr3t@[::1/a.jsonl",  # nor an IPv6 parsing error
        "https://user:s3cr3t\uff20public.example/a.jsonl",  # FULLWIDTH COMMERCIAL AT
    ],
)
def test_user_information_is_refused_without_repeating_it(url):
    with pytest.raises(StorageUrlRefusedError) as caught:
        policy("public.example").check(url)
    assert str(caught.value).startswith("storage URL must not contain user information")
    assert "s3cr3t" not in str(caught.value)


def test_an_at_sign_after_the_host_is_no_user_information():
    policy().check("https://public.example/exports/a@2026.jsonl?by=me@example.org#x@y")
