"""Hot swap under load: v1 -> v2 with no failed request; a broken v3 is refused."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.triton import media
from tests.triton.conftest import SWAP_MODEL, write_swap_model
from tests.triton.server import TritonServer, start_triton
from triton_models import swap


@dataclass
class Traffic:
    """A client that keeps asking until stopped, recording every answer in order."""

    server: TritonServer
    crop: np.ndarray
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
                    result = client.infer(SWAP_MODEL, [image])
                except Exception as exc:
                    self.errors.append(repr(exc))
                    continue
                response = result.get_response()
                text = result.as_numpy("TEXT").reshape(-1)[0].decode()
                self.answers.append((str(response["model_version"]), text))


def ask(server: TritonServer, crop: np.ndarray, version: str = "") -> tuple[str, str]:
    import tritonclient.http as httpclient

    with server.client() as client:
        image = httpclient.InferInput("IMAGE", [1, *crop.shape], "UINT8")
        image.set_data_from_numpy(crop[np.newaxis])
        result = client.infer(SWAP_MODEL, [image], model_version=version)
    text = result.as_numpy("TEXT").reshape(-1)[0].decode()
    return str(result.get_response()["model_version"]), text


@pytest.mark.timeout(300)
def test_hot_swap_under_load_then_broken_version_is_refused(triton: TritonServer) -> None:
    crop = media.line_crop("over the lazy dog")
    triton.load(SWAP_MODEL)
    version, v1_text = ask(triton, crop)
    assert (version, v1_text) == ("1", "over the lazy dog")

    clients = [Traffic(triton, crop) for _ in range(2)]
    threads = [threading.Thread(target=c.run) for c in clients]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    with triton.client(network_timeout=300.0, connection_timeout=300.0) as admin:
        retired = swap.swap(admin, triton.repository, SWAP_MODEL, 2)
        time.sleep(1.5)
        for client in clients:
            client.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert retired == [1]
        assert swap.served_versions(admin, SWAP_MODEL) == [2]

    answers = [a for c in clients for a in c.answers]
    assert not [e for c in clients for e in c.errors], "a request failed during the swap"
    v2_text = ask(triton, crop)[1]
    assert v2_text != v1_text, "v2 (random weights) must read differently from v1"
    for client in clients:
        versions = [v for v, _ in client.answers]
        assert versions[0] == "1"
        assert versions[-1] == "2"
        # Each client switches once, from v1 to v2, never back.
        assert versions == sorted(versions)
        assert all(text == {"1": v1_text, "2": v2_text}[v] for v, text in client.answers)
    assert sum(v == "1" for v, _ in answers) >= 3
    assert sum(v == "2" for v, _ in answers) >= 3
    config = (triton.repository / SWAP_MODEL / "config.pbtxt").read_text()
    assert "versions: [ 2 ]" in config

    # v3 cannot load (its weights file is garbage): refused, and v2 keeps serving.
    status = swap.main(
        [SWAP_MODEL, "--version", "3", "--repository", str(triton.repository), "--url", triton.url]
    )
    assert status == 1
    assert not (triton.repository / SWAP_MODEL / "3").exists()
    with triton.client() as admin:
        assert swap.served_versions(admin, SWAP_MODEL) == [2]
        assert admin.is_model_ready(SWAP_MODEL)
    assert ask(triton, crop) == ("2", v2_text)


def test_swap_on_a_restricted_repository_api_needs_the_admin_key(
    tmp_path: Path, weights_root: Path
) -> None:
    """Production Triton restricts load/unload to callers with the admin key."""
    repository = tmp_path / "repository"
    write_swap_model(repository)
    admin_key = f"key-{secrets.token_hex(8)}"
    key_file = tmp_path / "admin.key"
    key_file.write_text(admin_key + "\n")
    restricted = [f"--http-restricted-api=model-repository:admin-key={admin_key}"]
    with start_triton(repository, weights_root, tmp_path / "triton.log", restricted) as server:
        with server.client() as client:
            client.load_model(SWAP_MODEL, headers={"admin-key": admin_key})
        args = [SWAP_MODEL, "--version", "2", "--repository", str(repository), "--url", server.url]

        assert swap.main(args) == 1  # no key: refused before anything is placed
        assert not (repository / SWAP_MODEL / "2").exists()

        assert swap.main([*args, "--admin-key-file", str(key_file)]) == 0
        with server.client() as client:
            admin = swap.AdminClient(client, admin_key)
            assert swap.served_versions(admin, SWAP_MODEL) == [2]
