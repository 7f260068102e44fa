"""``make py313``'s pure parts: which mirror the chroot comes from, the command that runs in it, and the ratios of
``python -m bench.interpreters``. The chroot itself is built and used by hand (``make test-py313``), never here."""

from __future__ import annotations

import pathlib

import pytest

from bench import interpreters
from devtools import py313

DEB822 = """\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://sources.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://mirror.example/debian http://second.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def _sources(tmp_path: pathlib.Path, *, one_line: str = "", deb822: str = "") -> pathlib.Path:
    (tmp_path / "sources.list.d").mkdir()
    if one_line:
        (tmp_path / "sources.list").write_text(one_line)
    if deb822:
        (tmp_path / "sources.list.d" / "debian.sources").write_text(deb822)
    return tmp_path


def test_the_mirror_is_the_deb822_uri_of_the_hosts_own_suite(tmp_path: pathlib.Path) -> None:
    sources = _sources(tmp_path, deb822=DEB822)

    assert py313.mirror(sources, "bookworm") == "http://mirror.example/debian"
    assert py313.mirror(sources, "bookworm-security") == "http://mirror.example/debian-security"


def test_the_mirror_is_read_from_a_one_line_sources_list_first(tmp_path: pathlib.Path) -> None:
    one_line = (
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://sources.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://one.example/debian bookworm main # ours\n"
    )
    sources = _sources(tmp_path, one_line=one_line, deb822=DEB822)

    assert py313.mirror(sources, "bookworm") == "http://one.example/debian"


def test_no_mirror_for_another_suite_leaves_debootstraps_default(tmp_path: pathlib.Path) -> None:
    assert py313.mirror(_sources(tmp_path, deb822=DEB822), "trixie") is None


def test_no_sources_at_all_leaves_debootstraps_default(tmp_path: pathlib.Path) -> None:
    assert py313.mirror(tmp_path, "bookworm") is None


def test_the_command_execs_from_src_with_the_virtualenv_first(tmp_path: pathlib.Path) -> None:
    argv = py313.command(["python", "-m", "bench.server"], tmp_path)

    # chroot and env exec what follows: the server's pid is the one bench.processes reads CPU and memory from.
    assert argv[:3] == ["chroot", str(tmp_path), "/usr/bin/env"]
    assert "--chdir=/src" in argv
    assert f"PATH={py313.VENV}/bin:/usr/local/bin:/usr/bin:/bin" in argv
    assert argv[-3:] == ["python", "-m", "bench.server"]


def test_mounting_needs_a_built_chroot(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError, match="make py313"), py313.mounted(tmp_path / "none"):
        pass


def _record(scenario: str, clients: int, python: str, round_no: int, **figures: float) -> dict[str, object]:
    return {"scenario": scenario, "clients": clients, "python": python, "round": round_no, **figures}


def test_ratios_are_taken_within_each_round_then_their_median() -> None:
    # The machine doubles its speed from round to round: every round still says 3.13 is 1.25x 3.11.
    records = [
        _record("acks", 100, python, n, round_trips_per_s=rate * 2**n)
        for n in range(3)
        for python, rate in (("3.11", 1000.0), ("3.13", 1250.0))
    ] + [_record("acks", 100, "3.13", 3, round_trips_per_s=9000.0)]

    summary = interpreters.ratios(records, "3.13", "3.11")

    name = "acks_100_round_trips_per_s"
    assert [r[name] for r in summary["per_round"]] == [1.25, 1.25, 1.25, None]
    assert summary[name] == 1.25
    assert summary["fanout_1000_deliveries_per_s"] is None


def test_the_table_shows_medians_the_ratio_and_each_round() -> None:
    records = [
        _record("fanout", 1000, python, n, deliveries_per_s=rate, exactly_once=True)
        for n, (old, new) in enumerate(((100.0, 90.0), (200.0, 220.0), (100.0, 120.0)))
        for python, rate in (("3.11", old), ("3.13", new))
    ]
    results = {
        "records": records,
        "summary": interpreters.ratios(records, "3.13", "3.11"),
        "rounds": 3,
        "load_average": [(1.0, 2.0), (2.5, 3.0), (4.0, 8.25)],
        "environment": {
            "date": "d",
            "py313": "Python 3.13.5",
            "machine": "m",
            "packages": {"uvicorn": "0.54.0", "uvloop": "0.23.0"},
            "py313_packages": {"uvicorn": "0.54.0", "uvloop": "0.23.0"},
        },
    }

    text = interpreters.markdown(results, "3.13", "3.11")

    row = next(line for line in text.splitlines() if line.startswith("| typed broadcast"))
    assert row == "| typed broadcast, 1,000 clients (deliveries/s) | 100 | 120 | **1.10x** | 0.90x | 1.10x | 1.20x |"
    assert "1.0 to 2.0; 2.5 to 3.0; 4.0 to 8.2" in text
    assert "exactly once: yes" in text
    assert "uvicorn 0.54.0, uvloop 0.23.0 (the same under both)" in text
    results["environment"]["py313_packages"]["uvloop"] = "0.22.1"
    assert "(under 3.13: uvicorn 0.54.0, uvloop 0.22.1)" in interpreters.markdown(results, "3.13", "3.11")
