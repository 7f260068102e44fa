"""The seam between the bus and python-socketio/python-engineio: the only code that touches their internals.

Everything above this package uses python-socketio's public API (``AsyncServer``,
``AsyncClient``, ``on``, ``emit``, ``enter_room``, ``rooms``, ``exceptions``). What
needs more lives here, one module per concern:

* `managers`: picks and starts the client manager and the presence store.
* `fastpath`: `FastEmitManager`, the broadcast path without a task per recipient.
* `coalescing`: `WriteCoalescer`, which gathers broadcasts into one writer wake-up.
* `frames`: a broadcast's websocket frame built once and written straight to each idle recipient's transport.
* `outbound`: `SendLimits`, the per-connection bound on bytes waiting to be written
  (``EVENTBUS_MAX_QUEUE_BYTES``) and the websocket write timeout (``EVENTBUS_WRITE_TIMEOUT``).
* `guard`: `InboundGuard`, the checks on what clients send before python-socketio's decoder.
* `fastacks`: `FastAcks`, the bus's client events and joins run from the guard's parse, their acks
  written without python-socketio's dispatch.
* `redis_manager`: `RedisManager`/`SyncRedisManager`, python-socketio's Redis
  managers with signing, checks and errors that say what failed.
* `sharding`: room-sharded channels (``EVENTBUS_REDIS_SHARDING``): partitions, dedicated channels (``user:``
  rooms) and the dynamic subscriptions.
* `channel`, `signing`, `redis_url`: the wire format of a pub/sub message, its HMAC
  signature, and URL checks.
* `testclient`: the engine.io client subclass behind `eventbus.testing`.
* `server`: `Server`, python-socketio's server with the CONNECT reply's ``pid`` and packet replay;
  `publishing`: sends with offsets and room positions (one Lua script on Redis); `recovery`: the recovery
  stream and sessions on Redis; `room_streams`: per-room history on Redis.

Internals used, with the versions ``pyproject.toml`` pins (python-socketio 5.16-5.18,
python-engineio 4.12-4.15) and ``tests/eventbus/test_fastpath.py`` compares on the wire:

* python-socketio ``AsyncServer._send_eio_packet`` and ``AsyncServer.manager_initialized``
  (`fastpath`, `managers`);
* python-socketio ``AsyncPubSubManager._publish``, ``_listen``, ``_handle_emit``,
  ``_handle_enter_room``, ``_handle_leave_room`` and ``PubSubManager._handle_emit``,
  overridden by `redis_manager`; with sharding also ``AsyncPubSubManager.enter_room`` and
  ``BaseManager.basic_leave_room`` (overridden: every way out of a room comes through it), ``is_pre_connected``
  and the ``rooms`` table (read), and redis-py's ``PubSub.ping`` answered by a ``pong`` message in order
  with the subscription's messages (`sharding`, `redis_manager`);
* python-engineio ``AsyncServer.sockets`` and ``send_packet`` (wrapped), and
  ``AsyncSocket.queue``, ``closed``, ``last_ping``, ``upgraded`` (`fastpath`, `coalescing`);
* python-socketio ``AsyncServer._send_packet``, ``_handle_eio_disconnect``, ``manager.eio_sid_from_sid``
  and ``packet_class`` (`server`, `recovery`), ``AsyncPubSubManager._handle_emit`` with a pub/sub message
  built by `recovery` (the shape ``AsyncPubSubManager.emit`` publishes), and ``Channel._encode``/``_decode``;
* python-engineio ``AsyncServer.create_queue`` (replaced per server by `outbound.SendQueue`),
  ``AsyncServer._async["websocket"]`` (a per-server copy of the ASGI driver table with
  `outbound.TimedWebSocket`, a subclass of ``engineio.async_drivers.asgi.WebSocket`` that wraps its ``__call__``
  and reads, then clears, its ``handler``, ``asgi_send`` and ``asgi_receive``), ``AsyncSocket.close``/``closing``
  and ``AsyncSocket.server.ping_timeout`` (the closing handshake's bound); python-socketio
  ``AsyncServer._handle_eio_disconnect`` (a slow consumer's disconnect handlers, reason
  ``slow_consumer``) and ``packet_class``; python-engineio ``AsyncServer.sockets`` (``end_all``); and uvicorn's
  ASGI ``send`` being a bound method of its protocol, whose ``transport`` is aborted after a write timeout
  (`outbound`);
* python-engineio ``AsyncServer.handlers["message"]``, ``["connect"]`` and ``["disconnect"]`` (wrapped), and
  ``AsyncSocket.handle_post_request`` (wrapped per socket, calling the class's: the body's decoding errors),
  python-socketio ``AsyncServer._handle_eio_connect`` and ``_handle_eio_disconnect`` (the same wrappers, set on
  the instance, since the Admin UI's handlers call them), ``_binary_packet``, ``_send_packet``, ``packet_class``
  and ``manager.sid_from_eio_sid``; python-engineio ``AsyncServer.sockets`` and ``AsyncSocket.closing``,
  ``closed``, ``queue`` and ``sid``; and uvicorn's ``uvicorn.error`` log record for invalid UTF-8 (a filter)
  (`guard`);
* python-socketio ``AsyncServer.handlers`` (read: namespace -> event -> handler), ``async_handlers``,
  ``logger``, ``manager.is_connected``, ``packet_class`` (its ``json``) and ``_send_packet``; python-engineio
  ``AsyncServer.sockets``, ``send``, ``ping_timeout``, ``logger``, ``AsyncSocket.queue``, ``closed``,
  ``last_ping``, ``upgraded``, ``server.max_http_buffer_size`` (read by `outbound.TimedWebSocket`, which hands
  text frames to the guard before python-engineio's reader sees them); its acks are written by `frames`
  (`fastacks`);
* python-socketio ``AsyncClient._engineio_client_class``, ``_handle_connect``, ``_handle_event`` and python-engineio
  ``AsyncClient.read_loop_task``, ``write_loop_task``, ``queue``, ``http``, ``current_transport``,
  ``request_timeout``, ``_trigger_event``, ``_reset`` and ``_send_request`` (the last two overridden: a polling
  client's requests end, and a POST's reply is read, before its aiohttp session closes) (`testclient`);
* python-socketio ``socketio.async_admin.InstrumentedAsyncServer`` (what ``AsyncServer.instrument()`` builds),
  subclassed for its ``serialize_socket``, with its ``shutdown``, ``uninstrument`` and ``admin_namespace``, and
  python-engineio ``AsyncServer.handlers`` (the ``connect``/``disconnect`` handlers ``instrument()`` replaces and
  ``uninstrument()`` leaves replaced) (`admin`);
* uvicorn's ASGI websocket ``send`` being a bound method of its protocol, whose ``transport``
  (``write``, ``is_closing``, ``get_write_buffer_size``), ``config.ws_per_message_deflate`` and open state
  are read: ``WebSocketsSansIOProtocol`` ``handshake_complete``, ``close_sent``, ``initial_response``,
  ``conn.state``; ``WSProtocol`` ``close_sent``, ``response_started``, ``conn.state``; ``WebSocketProtocol``
  ``state``, ``closed_event``, ``initial_response``; python-engineio ``AsyncSocket.upgrading`` and
  ``Packet.encode`` (`frames`);
* python-socketio ``manager.rooms`` (namespace -> room -> members), read for the ``eventbus_rooms`` gauge
  (`managers.room_count`).

``make lint`` (import-linter, ``.importlinter``) keeps ``engineio`` imports in this package.
"""
