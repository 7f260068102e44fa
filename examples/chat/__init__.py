"""The chat demo: a FastAPI app with the typed Socket.IO bus mounted beside it."""
