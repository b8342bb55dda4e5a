"""The daemon's network with [fhir]: a drop-in allowing the FHIR server's addresses only, none without."""
from __future__ import annotations

import pytest

from station.cli import main
from station.config import default_config_text
from station.fhir.sandbox import dns_resolvers, network_dropin


def test_no_fhir_no_dropin(capsys):
    assert network_dropin("") is None
    assert main(["fhir-sandbox"]) == 0 and capsys.readouterr().out == ""


def test_a_literal_address_is_allowed_alone():
    text = network_dropin("https://10.20.30.40:8443/fhir", resolve=lambda h: pytest.fail("no DNS for an IP"),
                          resolvers=lambda: ["192.168.1.1"])
    assert "IPAddressAllow=10.20.30.40\n" in text
    assert "PrivateNetwork=no" in text and "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" in text


def test_a_host_name_allows_its_addresses_and_the_resolvers():
    text = network_dropin("https://fhir.clinic.test/r4", resolve=lambda h: ["10.0.0.5", "fd00::5"],
                          resolvers=lambda: ["10.0.0.1", "10.0.0.5"])
    assert "IPAddressAllow=10.0.0.5 fd00::5 10.0.0.1\n" in text


def test_a_host_that_does_not_resolve_is_one_message(tmp_path, capsys):
    with pytest.raises(ValueError, match="does not resolve"):
        network_dropin("https://nowhere.invalid/", resolve=lambda h: [], resolvers=lambda: [])
    conf = tmp_path / "s.toml"
    conf.write_text(default_config_text() + '\n[fhir]\nbase_url = "https://nowhere.invalid/"\nstation_id = "X"\n')
    assert main(["fhir-sandbox", "--config", str(conf)]) == 2
    assert "does not resolve" in capsys.readouterr().err


def test_resolvers_come_from_resolv_conf(tmp_path):
    f = tmp_path / "resolv.conf"
    f.write_text("# comment\nnameserver 127.0.0.53\noptions edns0\nnameserver ::1\n")
    assert dns_resolvers(f) == ["127.0.0.53", "::1"]

