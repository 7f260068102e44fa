"""A real Redis Cluster for the tests: `devtools.redis_cluster`, which the benchmark and ``make demo-cluster`` share."""

import pytest
import redis

from devtools.redis_cluster import RedisClusterServers, cluster_port
from eventbus.transport.channel import CLUSTER_REDIS_PY

__all__ = ["RedisClusterServers", "cluster_port", "requires_cluster_client"]

# The `cluster` extra's floor: `make test-lowest` runs the core floor (redis-py 5.0.8), where the bus refuses
# redis+cluster:// (tests/eventbus/test_redis_url.py checks that refusal under any version).
requires_cluster_client = pytest.mark.skipif(
    tuple(map(int, redis.__version__.split(".")[:2])) < CLUSTER_REDIS_PY,
    reason=f"redis+cluster:// needs redis-py 8.0 (the cluster extra); {redis.__version__} is installed",
)
