"""Hot swap under live load: a verified version takes over with no failed request; a version
that loads but answers wrongly is refused before any live request reaches it; one that
cannot load, or ships no check, is refused too. The old version serves throughout."""

from __future__ import annotations

import json
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.triton import media
from tests.triton.conftest import link
from tests.triton.server import TritonServer, start_triton
from triton_models import smoke, swap
from triton_models.repository import write_model
from triton_models.smoke import SMOKE_FILE

GATE = "crnn_gate"
TEXT = "over the lazy dog"


@dataclass
class Traffic:
    """Clients that keep asking (unversioned, like the services) until stopped."""

    server: TritonServer
    crop: np.ndarray
    model: str
    answers: list[tuple[str, str]] = field(default_factory=list)  # (version, text)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        import tritonclient.http as httpclient

        with self.server.client(network_timeout=120.0) as client:
            while not self.stop.is_set():
                image = httpclient.InferInput("IMAGE", [1, *self.crop.shape], "UINT8")
                image.set_data_from_numpy(self.crop[np.newaxis])
                try:
                    result = client.infer(self.model, [image])
                except Exception as exc:
                    self.errors.append(repr(exc))
                    continue
                text = result.as_numpy("TEXT").reshape(-1)[0].decode()
                self.answers.append((str(result.get_response()["model_version"]), text))


@dataclass
class ReadyWatch:
    """Polls the server's strict readiness and the live model's (the k8s readiness probe)."""

    server: TritonServer
    model: str
    statuses: list[tuple[int, int]] = field(default_factory=list)  # (server, model)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        import httpx

        paths = ("/v2/health/ready", f"/v2/models/{self.model}/ready")
        while not self.stop.is_set():
            found = []
            for path in paths:
                try:
                    found.append(httpx.get(f"{self.server.base}{path}").status_code)
                except httpx.HTTPError:
                    found.append(0)
            self.statuses.append((found[0], found[1]))
            time.sleep(0.2)


@dataclass
class Load:
    clients: list[Traffic]
    threads: list[threading.Thread]
    ready: ReadyWatch

    @property
    def answers(self) -> list[tuple[str, str]]:
        return [a for c in self.clients for a in c.answers]

    @property
    def errors(self) -> list[str]:
        return [e for c in self.clients for e in c.errors]


def start_load(server: TritonServer, crop: np.ndarray, model: str, count: int = 2) -> Load:
    clients = [Traffic(server, crop, model) for _ in range(count)]
    ready = ReadyWatch(server, model)
    threads = [threading.Thread(target=c.run) for c in clients]
    threads.append(threading.Thread(target=ready.run))
    for thread in threads:
        thread.start()
    return Load(clients, threads, ready)


def stop_load(load: Load) -> None:
    for client in load.clients:
        client.stop.set()
    load.ready.stop.set()
    for thread in load.threads:
        thread.join(timeout=60)


def ask(server: TritonServer, model: str, crop: np.ndarray) -> tuple[str, str]:
    import tritonclient.http as httpclient

    with server.client() as client:
        image = httpclient.InferInput("IMAGE", [1, *crop.shape], "UINT8")
        image.set_data_from_numpy(crop[np.newaxis])
        result = client.infer(model, [image])
    text = result.as_numpy("TEXT").reshape(-1)[0].decode()
    return str(result.get_response()["model_version"]), text


def shipped(folder: Path, crop: np.ndarray, expected_text: str) -> Path:
    """A version as an ML engineer hands it over: its check, without model code."""
    folder.mkdir(parents=True)
    np.save(folder / "smoke_IMAGE.npy", crop)
    (folder / SMOKE_FILE).write_text(
        '{"inputs": {"IMAGE": {"file": "smoke_IMAGE.npy"}},'
        f' "expect": {{"TEXT": {{"equals": ["{expected_text}"]}}, "CONFIDENCE": {{"min": 0.2}}}}}}'
    )
    return folder


@dataclass
class Gate:
    server: TritonServer
    crop: np.ndarray
    sources: Path
    first_swap: Load
    retired: list[int]


@pytest.fixture(scope="module")
def gate(
    triton: TritonServer, weights_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Gate:
    """``crnn_gate``: v1 and v2 read right (the real weights), v3 loads but reads nonsense
    (random weights), v4 cannot load. Served: v1, then swapped to v2 under load."""
    link(weights_root, GATE, 1, media.easyocr_models())
    link(weights_root, GATE, 2, media.easyocr_models())
    media.random_crnn(weights_root / GATE / "3", seed=3)
    media.broken_crnn(weights_root / GATE / "4")
    write_model(
        triton.repository,
        "crnn",
        name=GATE,
        kind="KIND_CPU",
        parameters={"weights": f"{GATE}/{{version}}"},
    )
    crop = media.line_crop(TEXT)
    sources = tmp_path_factory.mktemp("shipped")
    triton.load(GATE)
    assert ask(triton, GATE, crop) == ("1", TEXT)

    load = start_load(triton, crop, GATE)
    time.sleep(1.0)
    with triton.client(network_timeout=300.0, connection_timeout=300.0) as admin:
        retired = swap.swap(
            admin, triton.repository, GATE, 2, source=shipped(sources / "2", crop, TEXT)
        )
        time.sleep(1.5)
        stop_load(load)
    return Gate(triton, crop, sources, load, retired)


@pytest.mark.timeout(400)
def test_a_verified_version_takes_over_under_load_with_no_failed_request(gate: Gate) -> None:
    load = gate.first_swap
    assert not load.errors, f"a request failed during the swap: {load.errors[:3]}"
    # The live model stays ready throughout: what Triton's readiness probe checks (the
    # server-wide strict readiness is false while versions load or unload).
    assert {model for _, model in load.ready.statuses} == {200}, load.ready.statuses
    assert gate.retired == [1]
    for client in load.clients:
        versions = [v for v, _ in client.answers]
        assert versions[0] == "1"
        assert versions[-1] == "2"
        assert versions == sorted(versions), "a client went back to the old version"
    assert {text for _, text in load.answers} == {TEXT}
    assert sum(v == "1" for v, _ in load.answers) >= 3
    assert sum(v == "2" for v, _ in load.answers) >= 3
    with gate.server.client() as admin:
        assert swap.served_versions(admin, GATE) == [2]
        assert swap.served_versions(admin, swap.staging_name(GATE)) == []
    assert not (gate.server.repository / swap.staging_name(GATE)).exists()
    assert "versions: [ 2 ]" in (gate.server.repository / GATE / "config.pbtxt").read_text()


@pytest.mark.timeout(400)
def test_a_version_that_answers_wrongly_never_reaches_a_live_request(gate: Gate) -> None:
    """v3 loads fine but reads nonsense: refused at staging while v2 serves everything."""
    server = gate.server
    load = start_load(server, gate.crop, GATE)
    time.sleep(1.0)
    with server.client(network_timeout=300.0, connection_timeout=300.0) as admin:
        with pytest.raises(swap.SwapError, match="answered wrongly") as refused:
            swap.swap(
                admin,
                server.repository,
                GATE,
                3,
                source=shipped(gate.sources / "3", gate.crop, TEXT),
            )
        time.sleep(1.0)
        stop_load(load)
        assert swap.served_versions(admin, GATE) == [2]
        assert swap.served_versions(admin, swap.staging_name(GATE)) == []
    assert not load.errors, f"a live request failed while v3 was checked: {load.errors[:3]}"
    assert {model for _, model in load.ready.statuses} == {200}, load.ready.statuses
    assert len(load.answers) >= 5
    assert {version for version, _ in load.answers} == {"2"}, "a live request reached v3"
    assert {text for _, text in load.answers} == {TEXT}
    assert "TEXT is" in str(refused.value)  # the refusal says what v3 answered
    assert not (server.repository / GATE / "3").exists()
    assert not (server.repository / swap.staging_name(GATE)).exists()
    assert "versions: [ 2 ]" in (server.repository / GATE / "config.pbtxt").read_text()
    assert ask(server, GATE, gate.crop) == ("2", TEXT)


def test_a_version_that_cannot_load_or_ships_no_check_is_refused(gate: Gate) -> None:
    server = gate.server
    base = [GATE, "--repository", str(server.repository), "--url", server.url]
    broken = shipped(gate.sources / "4", gate.crop, TEXT)
    assert swap.main([*base, "--version", "4", "--source", str(broken)]) == 1
    assert not (server.repository / GATE / "4").exists()

    unchecked = gate.sources / "5"
    unchecked.mkdir()
    link(server.weights, GATE, 5, media.easyocr_models())
    assert swap.main([*base, "--version", "5", "--source", str(unchecked)]) == 1
    assert not (server.repository / GATE / "5").exists()
    with server.client() as admin:
        assert swap.served_versions(admin, GATE) == [2]
        assert admin.is_model_ready(GATE)
    assert ask(server, GATE, gate.crop) == ("2", TEXT)


@pytest.mark.timeout(400)
def test_roll_back_with_the_same_command_once_the_old_version_ships_its_check(
    gate: Gate, tmp_path: Path
) -> None:
    """v1 came from `triton_models.repository` without smoke.json: refused until it has
    one. Record v2's answers (the same weights), give them to v1, and swap back."""
    server = gate.server
    base = [GATE, "--repository", str(server.repository), "--url", server.url]
    assert swap.main([*base, "--version", "1"]) == 1
    assert (server.repository / GATE / "1").exists(), "a refused rollback keeps the folder"
    np.save(tmp_path / "crop.npy", gate.crop)
    record = [GATE, "--version", "2", "--repository", str(server.repository)]
    record += ["--url", server.url, "--input", f"IMAGE={tmp_path / 'crop.npy'}"]
    assert smoke.main(record) == 0
    v2 = server.repository / GATE / "2"
    expected = json.loads((v2 / SMOKE_FILE).read_text())["expect"]
    assert expected["TEXT"] == {"equals": [TEXT]}
    for name in (SMOKE_FILE, "smoke_IMAGE.npy"):
        shutil.copy(v2 / name, server.repository / GATE / "1" / name)
    assert swap.main([*base, "--version", "1"]) == 0
    with server.client() as admin:
        assert swap.served_versions(admin, GATE) == [1]
    assert ask(server, GATE, gate.crop) == ("1", TEXT)


def test_swap_on_a_restricted_repository_api_needs_the_admin_key(
    tmp_path: Path, weights_root: Path
) -> None:
    """Production Triton restricts load/unload to callers with the admin key."""
    keyed = "crnn_keyed"
    for version in (1, 2):
        link(weights_root, keyed, version, media.easyocr_models())
    repository = tmp_path / "repository"
    weights = {"weights": f"{keyed}/{{version}}"}
    write_model(repository, "crnn", name=keyed, kind="KIND_CPU", parameters=weights)
    admin_key = f"key-{secrets.token_hex(8)}"
    key_file = tmp_path / "admin.key"
    key_file.write_text(admin_key + "\n")
    restricted = [f"--http-restricted-api=model-repository:admin-key={admin_key}"]
    source = shipped(tmp_path / "v2", media.line_crop(TEXT), TEXT)
    with start_triton(repository, weights_root, tmp_path / "triton.log", restricted) as server:
        with server.client() as client:
            client.load_model(keyed, headers={"admin-key": admin_key})
        args = [keyed, "--version", "2", "--repository", str(repository), "--url", server.url]
        args += ["--source", str(source)]

        assert swap.main(args) == 1  # no key: refused, and nothing is left behind
        assert not (repository / keyed / "2").exists()

        assert swap.main([*args, "--admin-key-file", str(key_file)]) == 0
        with server.client() as client:
            admin = swap.AdminClient(client, admin_key)
            assert swap.served_versions(admin, keyed) == [2]
