"""The tutorial's frontend: codegen run as documented, then ``web/src/main.ts`` under the documented tsconfig."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

from tests.codegen.conftest import JS_DIR
from tests.docs.blocks import ALL_BLOCKS, blocks_of, own_python
from tests.docs.tutorial import ROOT, TUTORIAL, command, new_secret

pytestmark = pytest.mark.node

# Wrong usages tsc must reject with the documented tsconfig: if one compiled, its directive would be unused (TS2578).
WRONG_USAGE = """\
import { io, Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "./generated/events";

const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io("http://127.0.0.1:8000");
socket.emit("send_message", { chat_id: "42", text: "hi" }, (ack) => {
  // @ts-expect-error the ack's data is MessageAck, which has no such field
  if (ack.ok) console.log(ack.data.nope);
});
// @ts-expect-error a misspelled client event
socket.emit("send_mesage", { chat_id: "42", text: "hi" }, () => {});
// @ts-expect-error a missing field
socket.emit("send_message", { chat_id: "42" }, () => {});
// @ts-expect-error a server event the server never sends
socket.on("mesage", () => {});
"""


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A copy of ``examples/tutorial/web`` with the npm packages of tests/js and the generated types."""
    if shutil.which("node") is None or not (JS_DIR / "node_modules" / ".bin" / "tsc").exists():
        pytest.fail("tsc is not installed: install Node.js 20 and run `make node` (make test does both)")
    root = tmp_path_factory.mktemp("tutorial")
    shutil.copytree(TUTORIAL, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "generated"))
    (root / "web" / "node_modules").symlink_to(JS_DIR / "node_modules", target_is_directory=True)
    result = command(
        "eventbus", "codegen", "app.socketio_events", "--out", "web/src/generated", secret=new_secret(), cwd=root
    )
    assert result.returncode == 0, result.stderr
    return root / "web"


def tsc(web: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(web / "node_modules" / ".bin" / "tsc"), "-p", "."],
        cwd=web,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_ack_of_send_message_is_the_declared_type(web: pathlib.Path) -> None:
    events_ts = (web / "src" / "generated" / "events.ts").read_text()

    assert "send_message: (payload: SendMessage, callback: (ack: EventAck<MessageAck>) => void) => void;" in events_ts
    assert "export interface MessageAck {\n  id: number;\n}" in events_ts


def test_main_ts_compiles_and_wrong_usages_fail_with_the_documented_tsconfig(web: pathlib.Path) -> None:
    # One compiler run (tsc takes seconds): main.ts must compile, and each line of wrong.ts must be rejected, which
    # its @ts-expect-error turns into silence; a wrong line that compiled would leave its directive unused (TS2578).
    (web / "src" / "wrong.ts").write_text(WRONG_USAGE)
    try:
        result = tsc(web)
    finally:
        (web / "src" / "wrong.ts").unlink()

    assert result.returncode == 0, result.stdout + result.stderr


# A page's TypeScript marked <!-- docs-test: compile ... --> is typed by what codegen makes of the page's own Python,
# with `socket` typed as in the tutorial's main.ts.
SOCKET = """\
import { io, Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "./generated/events";

const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io("http://127.0.0.1:8000");
"""
COMPILED_PAGES = sorted(
    {
        block.page
        for block in ALL_BLOCKS
        if block.lang == "ts" and block.marker is not None and block.marker[0] == "compile"
    }
)


@pytest.mark.parametrize("page", COMPILED_PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_typescript_compiles_with_the_types_of_its_pages_python(page: pathlib.Path, tmp_path: pathlib.Path) -> None:
    (tmp_path / "docs_page.py").write_text("\n\n".join(own_python(page)))
    web = tmp_path / "web"
    (web / "src").mkdir(parents=True)
    shutil.copy(TUTORIAL / "web" / "tsconfig.json", web / "tsconfig.json")
    (web / "node_modules").symlink_to(JS_DIR / "node_modules", target_is_directory=True)
    generated = command(
        "eventbus",
        "codegen",
        "docs_page",
        "--out",
        "web/src/generated",
        "--target",
        "ts",
        secret=new_secret(),
        cwd=tmp_path,
    )
    assert generated.returncode == 0, generated.stderr
    blocks = [b for b in blocks_of(page) if b.lang == "ts" and b.marker is not None and b.marker[0] == "compile"]
    for number, block in enumerate(blocks):
        (web / "src" / f"block{number}.ts").write_text(SOCKET + block.text)

    result = tsc(web)

    assert result.returncode == 0, result.stdout + result.stderr
