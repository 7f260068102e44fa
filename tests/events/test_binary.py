"""``wire_payload``: what the server sends for a model, with bytes kept for Socket.IO attachments."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from enum import StrEnum

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from events.binary import wire_payload


class Kind(StrEnum):
    IMAGE = "image"
    TEXT = "text"


class Part(BaseModel):
    data: bytes
    at: dt.datetime


class Upload(BaseModel):
    id: uuid.UUID
    kind: Kind
    label: str = Field(alias="fileName")
    parts: list[Part]
    tags: set[str]
    sizes: dict[int, float]
    thumbnail: bytes | None
    window: tuple[dt.date, dt.date]


class Note(BaseModel):
    id: uuid.UUID
    at: dt.datetime
    tags: set[str]


_DATES = st.datetimes(timezones=st.none() | st.just(dt.UTC))
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
_UPLOADS = st.builds(
    Upload,
    id=st.uuids(),
    kind=st.sampled_from(Kind),
    fileName=st.text(max_size=8),
    parts=st.lists(st.builds(Part, data=st.binary(max_size=16), at=_DATES), max_size=3),
    tags=st.sets(st.text(max_size=4), max_size=3),
    sizes=st.dictionaries(st.integers(), _FLOATS, max_size=3),
    thumbnail=st.none() | st.binary(max_size=16),
    window=st.tuples(st.dates(), st.dates()),
)


def _blank_bytes(value: object) -> object:
    if isinstance(value, bytes):
        return b""
    if isinstance(value, dict):
        return {key: _blank_bytes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_blank_bytes(item) for item in value]
    return value


@settings(max_examples=100, deadline=None)
@given(_UPLOADS)
def test_bytes_stay_bytes_and_everything_else_is_what_the_json_mode_writes(upload: Upload) -> None:
    sent = wire_payload(upload)

    # Bytes of any value (not only UTF-8) reach python-socketio as bytes: it sends each as an attachment.
    assert [part["data"] for part in sent["parts"]] == [part.data for part in upload.parts]
    assert sent["thumbnail"] == upload.thumbnail
    assert Upload.model_validate(sent) == upload
    # The rest is what the JSON mode writes (which cannot write these bytes: it makes them UTF-8 text).
    blank: dict[str, object] = {"parts": [part.model_copy(update={"data": b""}) for part in upload.parts]}
    blank["thumbnail"] = None if upload.thumbnail is None else b""
    expected = upload.model_copy(update=blank).model_dump(mode="json", by_alias=True)
    written = json.loads(json.dumps(_blank_bytes(sent), default=bytes.decode))
    assert sorted(written.pop("tags")) == sorted(expected.pop("tags"))  # a set: in no particular order
    assert written == expected


@settings(max_examples=100, deadline=None)
@given(st.builds(Note, id=st.uuids(), at=_DATES, tags=st.sets(st.text(max_size=4), max_size=3)))
def test_a_model_without_bytes_is_its_json_dump(note: Note) -> None:
    assert wire_payload(note) == note.model_dump(mode="json", by_alias=True)
