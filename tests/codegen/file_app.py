"""A server for the sample application's bytes events: ``share_file`` comes back to its sender as ``file_shared``."""

from __future__ import annotations

from typing import Any

from eventbus import Context, EventBus
from tests.codegen.sample_app import FileReceipt, FileSharedEvent, ShareFile


def create_bus(**options: Any) -> EventBus:
    """A bus whose ``share_file`` handler acks the size and first bytes and sends the bytes back in ``file_shared``."""
    bus = EventBus(**options)

    @bus.on(ShareFile)
    async def share_file(ctx: Context, share: ShareFile) -> FileReceipt:
        assert ctx.user is not None
        joined = b"".join(share.parts)
        event = FileSharedEvent(project_id=share.project_id, attachment=share.attachment, thumbnail=joined or None)
        await bus.emit_to_user(ctx.user.id, event)
        return FileReceipt(size=len(share.attachment.data) + len(joined), head=share.attachment.data[:2])

    return bus
