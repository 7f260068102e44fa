"""The wheel and the sdist, installed into fresh virtualenvs the way a user would: pip 23 and the newest pip.

Without extras, and with every core dependency at its lower bound, a server runs and the missing extras fail
naming themselves; with them, a client connects and codegen's Python SDK talks to the server. Filling a
virtualenv takes 15-60 s, so these carry the ``packaging`` marker: ``make test-packaging`` runs them,
``make test`` leaves them out.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import socketio

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
VERSION = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)[1]  # type: ignore[index]

APP = '''
"""A tiny application, as a user would write it against the installed package."""

from eventbus import Event, EventBus, JWTAuth, Room, Target, User


class ChatRoom(Room, prefix="chat"):
    chat_id: str

    async def can_join(self, user: User | None) -> bool:
        return user is not None


class MessageEvent(Event):
    chat_id: str
    text: str

    def broadcast_to(self) -> list[Target]:
        return [ChatRoom(chat_id=self.chat_id)]


auth = JWTAuth(secret="a-development-secret-of-at-least-32-bytes")
bus = EventBus(auth, rooms=[ChatRoom])
app = bus.asgi_app()
'''

SERVER = """
import asyncio

from app import app
from eventbus.testing import serve


async def main() -> None:
    async with serve(app) as url:
        print(url, flush=True)
        await asyncio.Event().wait()


asyncio.run(main())
"""

# The generated SDK (in gen/client) and eventbus.testing's client, against a server from the installed package.
ROUND_TRIP = """
import asyncio
import json
import sys

sys.path.insert(0, "gen")

from app import MessageEvent, auth
from client import Client, models
from eventbus import broadcast
from eventbus.testing import SocketTestClient, serve


async def main() -> None:
    from app import app

    async with serve(app) as url:
        token = auth.issue("alice", ttl=60)
        tester = await SocketTestClient(url, token=token).connect()
        join_ack = await tester.call("join_chat", {"chat_id": "42"})
        received = asyncio.get_running_loop().create_future()
        async with Client(url, token=token) as sdk:
            sdk.on(models.MessageEvent, lambda message: received.done() or received.set_result(message))
            await sdk.join_chat(chat_id="42")
            await broadcast(MessageEvent(chat_id="42", text="hi"))
            message = await asyncio.wait_for(received, 10)
            inbox = await tester.inbox.wait_for("message")
        await tester.close()
    print(json.dumps({"join_ack": join_ack, "sdk": [type(message).__name__, message.text], "test_client": inbox}))


asyncio.run(main())
"""

NO_CLIENT = """
from eventbus.testing import SocketTestClient

try:
    SocketTestClient("http://127.0.0.1:9")
except ImportError as exc:
    print(exc)
"""


def _run(args: list[str], *, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@dataclass(frozen=True)
class Dists:
    wheel: Path
    sdist: Path


@dataclass(frozen=True)
class Venv:
    path: Path

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def pip(self, *args: str) -> str:
        done = _run([self.python, "-m", "pip", *args, "--no-input", "--disable-pip-version-check"])
        # pip 23 skips an extra it cannot find with only this line: the python-socketio[asyncio_client] bug.
        assert "does not provide the extra" not in done.stdout + done.stderr, done.stdout + done.stderr
        return done.stdout

    def pip_version(self) -> str:
        return _run([self.python, "-m", "pip", "--version"]).stdout.split()[1]

    def has(self, module: str) -> bool:
        probe = f"import importlib.util; print(importlib.util.find_spec({module!r}) is not None)"
        return _run([self.python, "-c", probe]).stdout.strip() == "True"

    def run(self, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run([self.python, *args], cwd=cwd, check=check)

    def eventbus(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return _run([str(self.path / "bin" / "eventbus"), *args], cwd=cwd, check=False)


def _venv(path: Path, *, newest_pip: bool) -> Venv:
    # Virtualenvs get the pip that the interpreter's ensurepip bundles: 23.2.1 for this machine's Python 3.11.7.
    _run([sys.executable, "-m", "venv", str(path)])
    venv = Venv(path)
    if newest_pip:
        venv.pip("install", "--quiet", "--upgrade", "pip")
    elif not venv.pip_version().startswith("23."):
        venv.pip("install", "--quiet", "pip>=23,<24")
    return venv


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """The wheel and the sdist of the work tree, built as `python -m build` does (the wheel from the sdist)."""
    source = tmp_path_factory.mktemp("source")
    # What a clone would hold (tracked and new files, not the ignored ones), so nothing local leaks in.
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(source)])
    return Dists(
        wheel=out / f"typed_eventbus-{VERSION}-py3-none-any.whl", sdist=out / f"typed_eventbus-{VERSION}.tar.gz"
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the user's application module (``app.py``) and the scripts run against it."""
    path = tmp_path_factory.mktemp("project")
    for name, text in {
        "app.py": APP,
        "server.py": SERVER,
        "round_trip.py": ROUND_TRIP,
        "no_client.py": NO_CLIENT,
    }.items():
        (path / name).write_text(textwrap.dedent(text).lstrip())
    return path


def _floors(wheel: Path) -> list[str]:
    """Every core dependency of the wheel pinned to its lower bound: ``pydantic<3,>=2.12`` gives ``pydantic==2.12``."""
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"typed_eventbus-{VERSION}.dist-info/METADATA").decode()
    pins = []
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            requirement = line.removeprefix("Requires-Dist:").strip()
            name = re.match(r"[\w.-]+(\[[^]]*\])?", requirement)
            floor = re.search(r">=([^,;\s]+)", requirement)
            assert name is not None, requirement
            assert floor is not None, f"{requirement!r} has no lower bound"
            pins.append(f"{name[0]}=={floor[1]}")
    return pins


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory, dists: Dists) -> Venv:
    """pip 23, the wheel without extras and every core dependency at its floor: the oldest server we promise."""
    venv = _venv(tmp_path_factory.mktemp("venv") / "bare", newest_pip=False)
    floors = _floors(dists.wheel)
    assert any(pin.startswith("pydantic==") for pin in floors), floors
    venv.pip("install", "--quiet", str(dists.wheel), *floors)
    names = [re.sub(r"\[.*\]", "", pin.split("==")[0]) for pin in floors]
    probe = "import importlib.metadata as m, sys; print(*(m.version(name) for name in sys.argv[1:]))"
    installed = venv.run("-c", probe, *names, cwd=venv.path).stdout.split()
    for pin, version in zip(floors, installed, strict=True):
        floor = pin.split("==")[1]
        assert version == floor or version.startswith(f"{floor}."), (pin, version)
    return venv


@pytest.fixture(scope="module")
def full_pip23(tmp_path_factory: pytest.TempPathFactory, dists: Dists) -> Venv:
    """pip 23 and the wheel with every extra: the `asyncio_client` spelling bug showed only under this pip."""
    venv = _venv(tmp_path_factory.mktemp("venv") / "full-pip23", newest_pip=False)
    venv.pip("install", "--quiet", f"{dists.wheel}[all]")
    return venv


async def _join_from_outside(url: str, token: str) -> object:
    client = socketio.AsyncClient(reconnection=False)
    try:
        await client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=5)
        return await client.call("join_chat", {"chat_id": "42"}, timeout=5)
    finally:
        await client.disconnect()


def test_the_dists_carry_the_license_and_only_the_server_dependencies(dists: Dists) -> None:
    import zipfile

    with zipfile.ZipFile(dists.wheel) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(f"typed_eventbus-{VERSION}.dist-info/METADATA").decode()
    assert f"typed_eventbus-{VERSION}.dist-info/licenses/LICENSE" in names
    assert {"eventbus/transport/__init__.py", "eventbus/py.typed", "events/py.typed", "codegen/py.typed"} <= set(names)
    assert not [name for name in names if name.startswith(("tests/", "bench/", "examples/"))]
    assert "License-Expression: MIT" in metadata
    core = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert not [line for line in core if re.search(r"datamodel|aiohttp|asyncio.client|pyyaml", line, re.IGNORECASE)]
    assert "Requires-Dist: python-socketio[asyncio-client]" in metadata
    assert dists.sdist.is_file()


def test_a_bare_install_serves_and_leaves_the_extras_out(bare: Venv, project: Path) -> None:
    assert bare.pip_version().startswith("23.")
    assert not bare.has("aiohttp")
    assert not bare.has("datamodel_code_generator")
    assert bare.run("-c", "import eventbus; print(eventbus.__version__)", cwd=project).stdout.strip() == VERSION
    with subprocess.Popen([bare.python, "server.py"], cwd=project, stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), url
            token = bare.run("-c", "from app import auth; print(auth.issue('alice', ttl=60))", cwd=project).stdout
            assert asyncio.run(_join_from_outside(url, token.strip())) == {"ok": True, "room": "chat:42"}
        finally:
            server.terminate()


def test_a_bare_install_names_the_codegen_extra(bare: Venv, project: Path) -> None:
    done = bare.eventbus("codegen", "app", "--out", "gen-bare", cwd=project)
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        "the Python SDK target (--target python) needs the 'codegen' extra (datamodel_code_generator is not installed):"
        " pip install 'typed-eventbus[codegen]'"
    ) in done.stderr
    assert not (project / "gen-bare").exists()
    # The targets that need no extra still work: a server's install can check its TypeScript types.
    done = bare.eventbus("codegen", "app", "--out", "gen-bare", "--target", "ts,schema,asyncapi", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(path.name for path in (project / "gen-bare").iterdir()) == [
        "asyncapi.yaml",
        "events.schema.json",
        "events.ts",
    ]


def test_a_bare_install_names_the_client_extra(bare: Venv, project: Path) -> None:
    out = bare.run("no_client.py", cwd=project).stdout
    assert "needs the 'client' extra (aiohttp is not installed): pip install 'typed-eventbus[client]'" in out


def _round_trip(venv: Venv, project: Path, out: str) -> None:
    done = venv.eventbus("codegen", "app", "--out", out, cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (project / out / "client" / "models.py").is_file()
    shutil.rmtree(project / "gen", ignore_errors=True)
    shutil.copytree(project / out, project / "gen")
    result = json.loads(venv.run("round_trip.py", cwd=project).stdout)
    assert result == {
        "join_ack": {"ok": True, "room": "chat:42"},
        "sdk": ["MessageEvent", "hi"],
        "test_client": [{"chat_id": "42", "text": "hi"}],
    }


def test_pip_23_installs_the_extras_and_the_client_connects(full_pip23: Venv, project: Path) -> None:
    assert full_pip23.pip_version().startswith("23.")
    assert full_pip23.has("aiohttp")
    assert full_pip23.has("datamodel_code_generator")
    _round_trip(full_pip23, project, "gen-pip23")


def test_the_newest_pip_installs_the_sdist_with_extras(
    tmp_path_factory: pytest.TempPathFactory, dists: Dists, project: Path
) -> None:
    venv = _venv(tmp_path_factory.mktemp("venv") / "newest", newest_pip=True)
    assert int(venv.pip_version().split(".")[0]) >= 24
    venv.pip("install", "--quiet", f"typed-eventbus[client,codegen] @ {dists.sdist.as_uri()}")
    _round_trip(venv, project, "gen-newest")
