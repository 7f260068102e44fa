"""What an operator sees of a running bus: metrics, traces, the Admin UI's password check, structured log fields.

The rest of the package reports through `recorder.Recorder` (a no-op unless metrics
are on) and `tracing`'s spans (no-ops unless an OpenTelemetry SDK is installed), so
neither costs more than a method call when off.
"""
