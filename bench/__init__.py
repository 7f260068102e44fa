"""The benchmark: raw python-socketio, our typed broadcast and Node socket.io under the same load (``make bench``)."""
