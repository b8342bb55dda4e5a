"""Staff sessions in the daemon: PINs checked there, with back-off and lockout; commands gated by role."""
from __future__ import annotations

import asyncio

import pytest

from station import api
from station.api import ApiError
from station.client import StationClient
from station.daemon import staff_auth
from station.daemon.staff_auth import StaffAuth
from station.staff_pins import hash_pin, write_pin_file
from tests.daemon.inprocess import InProcessDaemon
from tests.support import STAFF_PINS, log_in

PATIENT = {"patient_id": "P-1", "birth_year": 1960, "sex": "female", "dominant_hand": "right"}


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def auth_with(tmp_path, clock, **kw) -> StaffAuth:
    path = tmp_path / "pins.toml"
    write_pin_file(path, "therapist", hash_pin("8264", iterations=1000))
    return StaffAuth(path, clock=clock, **kw)


async def code_of(coro) -> str:
    try:
        await coro
    except ApiError as e:
        return e.code
    return "ok"


def test_wrong_pins_back_off_then_lock_the_role_and_a_right_pin_resets(tmp_path):
    clock = Clock()
    auth = auth_with(tmp_path, clock)

    async def main():
        codes = [await code_of(auth.login("therapist", "0001")) for _ in range(3)]
        assert codes == ["wrong_pin"] * 3  # two typos are free, the third costs a second
        assert auth.retry_after("therapist") == staff_auth.BACKOFF_S
        # during the back-off even the right PIN is refused at once (nothing hashed, nothing counted)
        assert await code_of(auth.login("therapist", "8264")) == "locked_out"
        clock.t += staff_auth.BACKOFF_S
        assert await code_of(auth.login("therapist", "0002")) == "wrong_pin"
        clock.t += auth.retry_after("therapist")
        assert await code_of(auth.login("therapist", "0003")) == "locked_out"  # the 5th: locked
        assert auth.retry_after("therapist") == staff_auth.LOCKOUT_S
        assert await code_of(auth.login("technician", "0004")) == "no_pin"  # roles are counted apart
        clock.t += staff_auth.LOCKOUT_S
        assert await code_of(auth.login("therapist", "0005")) == "locked_out"
        assert auth.retry_after("therapist") == 2 * staff_auth.LOCKOUT_S  # each further one doubles
        clock.t += 2 * staff_auth.LOCKOUT_S
        assert await code_of(auth.login("therapist", "8264")) == "ok"
        assert await code_of(auth.login("therapist", "0006")) == "wrong_pin"
        assert auth.retry_after("therapist") == 0  # the count started again
    asyncio.run(main())


def test_lockout_grows_to_its_cap():
    waits = [staff_auth.wait_after(n) for n in range(1, 12)]
    assert waits == sorted(waits) and waits[-1] == staff_auth.MAX_LOCKOUT_S
    assert waits[:staff_auth.FREE_FAILURES] == [0.0] * staff_auth.FREE_FAILURES


def test_a_guessable_pin_opens_nothing_on_a_real_station(tmp_path):
    path = tmp_path / "pins.toml"
    write_pin_file(path, "technician", hash_pin("1234", iterations=1000))

    async def main():
        real = StaffAuth(path, allow_trivial=False)
        assert await code_of(real.login("technician", "1234")) == "weak_pin"
        demo = StaffAuth(path, allow_trivial=True)
        assert await code_of(demo.login("technician", "1234")) == "ok"
    asyncio.run(main())


def test_the_pin_file_is_read_again_when_set_pin_changes_it(tmp_path):
    auth = auth_with(tmp_path, Clock())
    assert auth.pins_set() == {"therapist": True, "technician": False}
    write_pin_file(auth.pin_file, "technician", hash_pin("8264", iterations=1000))
    assert auth.pins_set() == {"therapist": True, "technician": True}


def test_an_old_hash_in_station_toml_still_opens_with_a_warning(tmp_path, caplog):
    auth = StaffAuth(tmp_path / "none.toml", legacy={"therapist": hash_pin("8264", iterations=1000)})
    assert asyncio.run(code_of(auth.login("therapist", "8264"))) == "ok"
    assert "move it" in caplog.text


def test_the_socket_gives_nothing_to_a_client_without_the_role(tmp_path):
    async def main():
        async with InProcessDaemon(tmp_path) as d:
            async with StationClient(d.socket) as staff, StationClient(d.socket) as anyone:
                assert anyone.hello["state"]["station"]["staff_pins"] == {"therapist": True, "technician": True}
                for cmd, args in (("find_patients", {}), ("create_patient", PATIENT), ("tare", {"cell": "dish"}),
                                  ("mark_invalid", {"trial_id": 1, "reason": "x"}), ("results", {}),
                                  ("start_trial", {"protocol": "free-practice"}), ("self_test", {})):
                    with pytest.raises(ApiError) as e:
                        await anyone.request(cmd, **args)
                    assert e.value.code == api.UNAUTHORIZED, cmd
                await log_in(staff, "therapist")
                await staff.request("create_patient", **PATIENT)  # selects them
                await staff.request("create_patient", **{**PATIENT, "patient_id": "P-2"})
                await staff.request("select_patient", patient_id="P-1")
                # the patient screen reads the selected patient's results, nobody else's
                assert (await anyone.request("results"))["patient"]["patient_id"] == "P-1"
                with pytest.raises(ApiError) as e:
                    await anyone.request("results", patient_id="P-2")
                assert e.value.code == api.UNAUTHORIZED
                with pytest.raises(ApiError) as e:  # a therapist is not a technician
                    await staff.request("tare", cell="dish")
                assert e.value.code == api.UNAUTHORIZED
                with pytest.raises(ApiError) as e:
                    await anyone.request("login", role="therapist", pin="0000")
                assert e.value.code == api.WRONG_PIN
                assert (await staff.request("logout"))["roles"] == []
                with pytest.raises(ApiError) as e:
                    await staff.request("find_patients")
                assert e.value.code == api.UNAUTHORIZED
            async with StationClient(d.socket) as again:  # a session ends with its connection
                with pytest.raises(ApiError) as e:
                    await again.request("find_patients")
                assert e.value.code == api.UNAUTHORIZED
                await again.request("login", role="technician", pin=STAFF_PINS["technician"])
                with pytest.raises(ApiError) as e:  # authorised: the tare itself answers (no config to save to)
                    await again.request("tare", cell="tray")
                assert e.value.code != api.UNAUTHORIZED and "station.toml" in e.value.message
    asyncio.run(asyncio.wait_for(main(), 60))
