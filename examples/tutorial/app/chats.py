"""Who belongs to which chat, and the messages posted there: in memory, for the tutorial."""

from __future__ import annotations

import itertools


class ChatStore:
    """A stand-in for your database: chat id to member ids, and a counter for message ids."""

    def __init__(self, members: dict[str, set[str]]) -> None:
        self.members = members
        self.messages: list[tuple[int, str, str, str]] = []
        self._ids = itertools.count(1)

    async def is_member(self, user_id: str, chat_id: str) -> bool:
        return user_id in self.members.get(chat_id, set())

    async def save(self, chat_id: str, author: str, text: str) -> int:
        message_id = next(self._ids)
        self.messages.append((message_id, chat_id, author, text))
        return message_id


chats = ChatStore({"42": {"alice", "bob"}, "43": {"carol"}})
