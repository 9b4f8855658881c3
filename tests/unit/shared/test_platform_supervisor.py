"""The embedded platform's supervisor: restart what died, and a broker over its memory cap, without
restarting it in a loop when the republished retention window alone is bigger than the cap."""

from __future__ import annotations

from pathlib import Path

from shared.platform import Platform


class Broker:
    """Stands in for the Tansu process: only its memory and liveness matter to the supervisor."""

    def __init__(self, rss: float) -> None:
        self.rss, self.restarts, self.up = rss, 0, True

    def rss_mb(self) -> float:
        return self.rss

    def alive(self) -> bool:
        return self.up

    def restart(self) -> None:
        self.restarts += 1
        self.up = True


def test_a_broker_over_its_cap_is_restarted_and_the_cap_then_follows_the_republished_window(
        tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    clock = [1000.0]
    monkeypatch.setattr("shared.platform.time.monotonic", lambda: clock[0])
    broker = Broker(rss=1500)
    platform = Platform(data_dir=tmp_path, broker_max_mb=1024)
    platform.broker = broker  # type: ignore[assignment]
    assert "RSS over 1024 MB" in platform.supervise_once()[0]
    broker.rss = 1100  # the relays republished a window bigger than the cap
    clock[0] += 61
    assert platform.supervise_once() == []  # measured the refill: the cap is now 2 x 1,100 MB
    broker.rss = 2000
    assert platform.supervise_once() == [] and broker.restarts == 1
    broker.rss = 2300
    assert platform.supervise_once() and broker.restarts == 2


def test_a_broker_that_exited_is_started_again(tmp_path: Path) -> None:
    broker = Broker(rss=10)
    broker.up = False
    platform = Platform(data_dir=tmp_path)
    platform.broker = broker  # type: ignore[assignment]
    assert "exited" in platform.supervise_once()[0] and broker.restarts == 1
