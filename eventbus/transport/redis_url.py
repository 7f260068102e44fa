"""Redis URLs as users write them, and as they may appear in errors and logs (password hidden)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from eventbus.exceptions import ConfigurationError

# valkey:// URLs are left out on purpose: Valkey speaks the Redis protocol, so redis:// reaches it with redis-py.
SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "redis+cluster", "rediss+cluster")
_SECRET_QUERY_KEYS = frozenset({"password", "ssl_password"})
# The netloc of a sentinel URL holds several hosts, which urlsplit cannot parse: match the userinfo by hand.
_USERINFO = re.compile(r"^(?P<user>[^:@]*)(?::[^@]*)?@")


def redact(url: str) -> str:
    """``url`` with its password (userinfo or ``?password=``) replaced by ``***``; safe for logs and errors.

    Example:
        >>> redact("rediss://events:s3cret@redis.example.com:6380/0")
        'rediss://events:***@redis.example.com:6380/0'
        >>> redact("unix:///run/redis.sock?db=1&password=s3cret")
        'unix:///run/redis.sock?db=1&password=***'
    """
    if "://" not in url:  # not a URL at all: hide whatever could be userinfo
        return f"***@{url.rpartition('@')[2]}" if "@" in url else url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable Redis URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = _USERINFO.sub(lambda m: f"{m['user']}:***@", netloc, count=1)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs], safe="/*")
    # Assembled by hand: urlunsplit drops the empty authority of unix:///path.
    return (
        f"{parts.scheme}://{netloc}{parts.path}"
        + (f"?{query}" if query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )


def is_cluster(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://`` or ``rediss+cluster://`` for TLS)."""
    return url.partition("://")[0].lower().endswith("+cluster")


def cluster_nodes(url: str) -> tuple[list[tuple[str, int]], dict[str, str]]:
    """The ``host:port`` pairs of a cluster URL and its credentials (``username``, ``password``).

    Example:
        >>> cluster_nodes("redis+cluster://app:s3cret@10.0.0.1:7000,10.0.0.2:7000/")
        ([('10.0.0.1', 7000), ('10.0.0.2', 7000)], {'username': 'app', 'password': 's3cret'})
    """
    netloc = url.partition("://")[2].partition("/")[0]
    userinfo, _, hosts = netloc.rpartition("@")
    credentials: dict[str, str] = {}
    if userinfo:
        user, _, password = userinfo.partition(":")
        credentials = {k: unquote(v) for k, v in (("username", user), ("password", password)) if v}
    nodes = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit():
            raise ConfigurationError(
                f"Redis Cluster URL must list host:port nodes, comma-separated (got {redact(url)!r}); "
                "e.g. redis+cluster://user:password@10.0.0.1:7000,10.0.0.2:7000/"
            )
        nodes.append((name, int(port)))
    return nodes, credentials


def check_url(url: str) -> str:
    """Return ``url`` when its scheme is one python-socketio's Redis managers accept; raise otherwise."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise ConfigurationError(
            f"Redis URL must start with one of {', '.join(s + '://' for s in SCHEMES)} (got {redact(url)!r}); "
            "e.g. redis://localhost:6379/0 or rediss://user:password@host:6380/0 for TLS"
        )
    return url
