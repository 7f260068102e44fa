"""A sample application for the codegen golden tests: every type the generators must handle.

Its names differ from ``tests.sample`` so both can be imported in one test process.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, computed_field

from events import ClientEvent, Event, Room, User


class ProjectRoom(Room, prefix="project", presence=True):
    """Everyone working on one project."""

    project_id: str = Field(description="The project's id.")


class SprintBoardRoom(Room, prefix="sprint_board", history=50, public=True):
    org: str
    number: int


class StatusRoom(Room, public=True):
    """Service status for every signed-in user."""


class Color(StrEnum):
    """A label color."""

    RED = "red"
    GREEN = "green"


class Priority(IntEnum):
    LOW = 1
    HIGH = 2


class Circle(BaseModel):
    kind: Literal["circle"] = "circle"
    radius: float = Field(allow_inf_nan=False)


class Square(BaseModel):
    kind: Literal["square"] = "square"
    side: float = Field(allow_inf_nan=False)


Shape = Annotated[Circle | Square, Field(discriminator="kind")]


class Comment(BaseModel):
    """A comment and its replies (a recursive model)."""

    text: str
    replies: list[Comment] = []


class Label(BaseModel):
    name: str
    color: Color = Color.GREEN


class DocInfo(BaseModel):
    """What the others in a document see of a user."""

    name: str
    color: Color | None = None


class DocRoom(Room, prefix="doc", presence=True, public=True, history=20):
    """A document being edited; its members carry a name (``presence_info``)."""

    doc_id: str

    async def presence_info(self, user: User) -> DocInfo:
        return DocInfo(name=str(user.claims.get("name", user.id)))


class TaskUpdatedEvent(Event):
    """A task changed; sent to the task's project room."""

    task_id: uuid.UUID
    title: str = Field(description="Shown in lists.\nAt most one line.")
    done: bool
    points: int | None
    estimate: float = Field(allow_inf_nan=False)
    state: Literal["open", "closed"]
    status: str | int
    priority: Priority
    color: Color
    labels: list[Label]
    position: tuple[int, int]
    history: tuple[str, ...]
    tags: set[str]
    counts: dict[str, int]
    shape: Shape
    comment: Comment
    due: dt.date | None = None
    updated_at: dt.datetime
    budget: Decimal
    extra: Any
    nothing: None = None
    created_by: str = Field(alias="createdBy")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        return f"{self.title} ({'done' if self.done else 'open'})"

    def broadcast_to(self) -> list[str]:
        return ["project:1"]


class ProjectRenamed(Event, name="project.renamed"):
    project_id: str
    name: str


class StatusEvent(Event):
    healthy: bool
    message: str | None = None


class Attachment(BaseModel):
    """A file; its bytes travel as a Socket.IO binary attachment."""

    name: str
    data: bytes


class FileSharedEvent(Event):
    """A file shared in a project: bytes nested in a model and at the top."""

    project_id: str
    attachment: Attachment
    thumbnail: bytes | None = None

    def broadcast_to(self) -> list[str]:
        return [f"project:{self.project_id}"]


class FileReceipt(BaseModel):
    """What the server got: the size, and the first bytes back (a binary ack)."""

    size: int
    head: bytes


class ShareFile(ClientEvent, ack=FileReceipt):
    """Share a file with a project; acked with what the server received."""

    project_id: str
    attachment: Attachment
    parts: list[bytes] = Field(default_factory=list)


class TaskAck(BaseModel):
    task_id: uuid.UUID
    version: int


class UpdateTask(ClientEvent, ack=TaskAck):
    """Change a task's title or state; acked with its new version."""

    task_id: uuid.UUID
    title: str | None = None
    state: Literal["open", "closed"] = "open"
    labels: list[Label] = Field(default_factory=list)


class CountTasks(ClientEvent, ack=int):
    project_id: str


class Heartbeat(ClientEvent):
    """Tells the server the client is alive; the ack carries no data."""
