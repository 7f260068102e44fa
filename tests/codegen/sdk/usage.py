"""Type-checked with mypy --strict against the SDK generated for tests.codegen.sample_app (test_python_sdk.py).

Each wrong line carries a ``type: ignore[code]``: under --strict an ignore on a line
without that error is itself an error, so a wrongly accepting SDK fails the test.
"""

from __future__ import annotations

import uuid

from client import (
    UNSET,
    Client,
    DocPresenceJoin,
    DocPresenceList,
    ProjectPresenceJoin,
    ProjectPresenceJoinOk,
    RequestRefused,
    doc_room,
    models,
    project_room,
    sprint_board_room,
    status_room,
)


async def right(events: Client) -> None:
    joined: ProjectPresenceJoinOk = await events.join_project(project_id="42")
    present: list[str] = [member.user_id for member in joined.members]
    left: models.JoinOk = await events.leave_project(project_id="42")
    plain: models.JoinOk = await events.join_status()
    since = models.StreamPosition(offset=3, epoch="e")
    caught: models.HistoryJoinOk = await events.join_sprint_board(org="acme", number=3, since=since)
    missed: list[int] = [publication.offset for publication in caught.publications if caught.recovered]
    who: models.PresenceList = await events.presence(room=project_room(project_id="42"))
    await events.join_sprint_board(org="acme", number=3)
    await events.join_status()
    task: models.TaskAck = await events.update_task(task_id=uuid.uuid4(), title=None, state="closed")
    await events.update_task(task_id=uuid.uuid4(), labels=[models.LabelInput(name="bug")], title=UNSET)
    count: int = await events.count_tasks(project_id="1")
    await events.heartbeat()
    names: list[str] = [project_room(project_id="42"), sprint_board_room(org="acme", number=3), status_room()]

    @events.on(models.TaskUpdatedEvent)
    async def updated(event: models.TaskUpdatedEvent) -> None:
        print(event.title, event.created_by, event.shape.kind, event.comment.replies, event.labels[0].color)

    events.on(models.StatusEvent, lambda status: print(status.healthy, status.message))
    try:
        await events.join_project(project_id="secret")
    except RequestRefused as refused:
        print(refused.code, refused.error.message)
    print(joined.room, present, left, plain, who.members, task.version, count, names, updated, missed)

    # doc rooms type their members' info: DocRoom.presence_info returns a DocInfo.
    doc = await events.join_doc(doc_id="d1")
    in_doc: list[str] = [member.info.name for member in doc.members]
    listed: DocPresenceList = await events.presence_doc(room=doc_room(doc_id="d1"))
    events.on(DocPresenceJoin, lambda event: print(event.member.info.name.upper(), event.room))
    print(in_doc, listed.members[0].info.color)

    # bytes fields are bytes both ways (python-socketio sends and hands over each as a binary attachment).
    attachment = models.Attachment(name="a.png", data=b"\x89PNG")
    receipt: models.FileReceipt = await events.share_file(project_id="1", attachment=attachment, parts=[b"\xff"])
    head: bytes = receipt.head
    events.on(models.FileSharedEvent, lambda shared: print(shared.attachment.data.hex(), shared.thumbnail))
    print(head)


async def wrong(events: Client) -> None:
    await events.join_project(project_id=42)  # type: ignore[arg-type]
    await events.join_project()  # type: ignore[call-arg]
    await events.join_user(user_id="7")  # type: ignore[attr-defined]
    await events.update_task(task_id=uuid.uuid4(), state="archived")  # type: ignore[arg-type]
    await events.update_task(title="no id")  # type: ignore[call-arg]
    joined: models.JoinOk = await events.update_task(task_id=uuid.uuid4())  # type: ignore[assignment]
    count: str = await events.count_tasks(project_id="1")  # type: ignore[assignment]
    events.on(models.StatusEvent, lambda status: status.nope)  # type: ignore[attr-defined]
    room: int = project_room(project_id="42")  # type: ignore[assignment]
    project_room(project="42")  # type: ignore[call-arg]
    plain = await events.join_status()
    print(plain.members)  # type: ignore[attr-defined]
    await events.join_sprint_board(org="acme", number=3, since=3)  # type: ignore[arg-type]
    print(joined, count, room)
    project = await events.join_project(project_id="1")
    print(project.members[0].info.name)  # type: ignore[attr-defined]
    events.on(ProjectPresenceJoin, lambda event: event.member.info.name)  # type: ignore[attr-defined]
    doc = await events.join_doc(doc_id="d1")
    name: int = doc.members[0].info.name  # type: ignore[assignment]
    print(name)
    attachment = models.Attachment(name="a", data=b"")
    await events.share_file(project_id="1", attachment=attachment, parts=["text"])  # type: ignore[list-item]
    receipt = await events.share_file(project_id="1", attachment=attachment)
    print(receipt.head.upper() + "")  # type: ignore[operator]
