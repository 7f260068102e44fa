"""Client-to-server traffic: typed client events, room joins, payload checks, rate limits, token expiry, connections.

These modules serve an application through the `Host` protocol (`eventbus.inbound.host`),
which `eventbus.Application` implements, so they never import the application itself.
"""
