"""Code generation from the event registries: JSON Schema, TypeScript, a Python SDK and AsyncAPI."""

__all__: list[str] = []
