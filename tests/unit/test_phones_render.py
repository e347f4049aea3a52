"""Rendering phone configurations: goldens per vendor, well-formed XML, determinism,
escaping, and every kind of bad input failing before anything is written."""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from orchestrator.errors import BookError, ConfigError
from orchestrator.fleet import load_book
from orchestrator.model import Customer, Phone
from orchestrator.phones.profiles import PROFILES, ProfileError, profile_for
from orchestrator.phones.render import MASK, Renderer, TemplateError
from orchestrator.phones.timezones import phone_timezone

from .phones_data import CATALOG, CUSTOMER, ENDPOINT, PLANTED_SECRET_PREFIX, credentials, customer

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "phones" / "golden"
REGENERATE = os.environ.get("PBXOPS_REGENERATE_GOLDEN") == "1"

EXPECTED_FILES = [
    "000000000000.cfg",
    "0004130000AB.xml",
    "64167f000003-phone.cfg",
    "805ec0000001.cfg",
    "cfgc074ad000004.xml",
    "y000000000000.cfg",
]


def _render(**changes: object):  # type: ignore[no-untyped-def]
    c = customer(**changes)
    return Renderer().system_files(c, c.systems[0], CATALOG, credentials(c), ENDPOINT)


def test_every_vendor_gets_the_files_its_phones_fetch() -> None:
    assert list(_render().names) == sorted(EXPECTED_FILES)


@pytest.mark.parametrize("name", EXPECTED_FILES)
def test_rendered_file_matches_golden(name: str) -> None:
    rendered = _render().get(name)
    assert rendered is not None
    golden = GOLDEN / name
    if REGENERATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered.content)
    assert golden.exists(), f"no golden {golden}: run with PBXOPS_REGENERATE_GOLDEN=1"
    assert rendered.content == golden.read_text()


def test_rendering_is_deterministic_whatever_the_phone_order() -> None:
    first = _render()
    data = dict(CUSTOMER)
    system = dict(data["systems"][0])
    system["phones"] = list(reversed(system["phones"]))
    again = _render(systems=[system])
    assert first.files == again.files
    assert first.files == _render().files


def _xml(name: str) -> ET.Element:
    rendered = _render().get(name)
    assert rendered is not None
    return ET.fromstring(rendered.content.encode())


def test_snom_xml_parses_and_carries_the_account() -> None:
    settings = _xml("0004130000AB.xml").find("phone-settings")
    assert settings is not None
    values = {el.tag: el.text for el in settings}
    assert values["user_name"] == "102"
    assert values["user_pass"] == f"{PLANTED_SECRET_PREFIX}102"
    assert values["user_realname"] == 'Ben "B&B" <Bauer>'
    assert values["user_host"] == "10.60.1.10:5060;transport=udp"
    assert values["timezone"] == "GER+1"
    assert values["language"] == "Deutsch"
    assert values["ntp_server"] == "ntp.acme.example"
    assert values["setting_server_backup"] == "http://10.250.9.10/{mac}.xml"


def test_poly_xml_parses_and_uses_the_phone_language() -> None:
    root = _xml("64167f000003-phone.cfg")
    reg = root.find("reg")
    assert reg is not None
    assert reg.get("reg.1.auth.userId") == "103"
    assert reg.get("reg.1.displayName") == "Carla d'Amico"
    assert reg.get("reg.1.server.1.transport") == "UDPOnly"
    lcl = root.find("lcl")
    assert lcl is not None and lcl.get("lcl.ml.lang") == "Italian_Italy"
    device = root.find("device")
    assert device is not None and device.get("device.prov.serverNameBackup") == "http://10.250.9.10/"


def test_poly_master_lists_firmware_per_model() -> None:
    root = _xml("000000000000.cfg")
    assert root.get("CONFIG_FILES") == "[PHONE_MAC_ADDRESS]-phone.cfg"
    app = root.find("APPLICATION_VVX450")
    assert app is not None
    assert app.get("APP_FILE_PATH_VVX450") == "http://fw.example/poly/6.4.6.2546/sip.ld"


def test_grandstream_xml_parses_with_p_values() -> None:
    root = _xml("cfgc074ad000004.xml")
    assert root.findtext("mac") == "c074ad000004"
    config = root.find("config")
    assert config is not None
    p = {el.tag: el.text for el in config}
    assert p["P35"] == "104"
    assert p["P3"] == "Dieter & Co"
    assert p["P47"] == "10.60.1.10:5060"
    assert p["P246"] == "CET-1CEST,M3.5.0,M10.5.0/3"
    assert p["P1362"] == "de"
    assert p["P192"] == "fw.example/grandstream/grp2614fw.bin"


def _key_values(text: str) -> dict[str, str]:
    pairs = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition(" = ")
            pairs[key] = value
    return pairs


def test_yealink_cfg_is_key_value_with_version_header() -> None:
    rendered = _render().get("805ec0000001.cfg")
    assert rendered is not None
    assert rendered.content.startswith("#!version:1.0.0.1\n")
    kv = _key_values(rendered.content)
    assert kv["account.1.user_name"] == "101"
    assert kv["account.1.display_name"] == "Anna Öztürk"
    assert kv["account.1.sip_server.1.address"] == "10.60.1.10"
    assert kv["local_time.time_zone"] == "+1"
    assert kv["lang.gui"] == "German"
    assert kv["static.firmware.url"] == "http://fw.example/yealink/T54W-96.86.0.70.rom"


def test_yealink_line_break_in_name_cannot_inject_a_key() -> None:
    system = dict(CUSTOMER["systems"][0])
    phones = [dict(p) for p in system["phones"]]
    phones[0]["display_name"] = "Eve\naccount.1.password = stolen"
    system["phones"] = phones
    rendered = _render(systems=[system]).get("805ec0000001.cfg")
    assert rendered is not None
    kv = _key_values(rendered.content)
    assert kv["account.1.password"] == f"{PLANTED_SECRET_PREFIX}101"
    assert kv["account.1.display_name"] == "Eve account.1.password = stolen"


def test_redact_masks_every_password() -> None:
    files = _render()
    for f in files.files:
        redacted = files.redact(f.content)
        assert PLANTED_SECRET_PREFIX not in redacted
        if f.mac:
            assert MASK in redacted


def test_common_files_are_customer_neutral() -> None:
    a = _render()
    b = _render(id="other", name="Other AG", timezone="Asia/Tokyo", language="en")
    for name in ("y000000000000.cfg", "000000000000.cfg"):
        fa, fb = a.get(name), b.get(name)
        assert fa is not None and fb is not None and fa.content == fb.content


def test_unknown_model_is_refused_naming_the_known_ones() -> None:
    system = dict(CUSTOMER["systems"][0])
    system["phones"] = [{**system["phones"][0], "model": "T99X"}]
    with pytest.raises(ProfileError, match=r"no yealink profile for model 'T99X' \(known: .*T54W"):
        _render(systems=[system])


def test_unknown_vendor_has_no_profile() -> None:
    with pytest.raises(ProfileError, match="no phone profile for vendor 'cisco'"):
        profile_for("cisco")


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ProfileError, match="no language 'xx'"):
        _render(language="xx")


def test_missing_credentials_are_refused() -> None:
    c = customer()
    creds = credentials(c)
    del creds["103"]
    with pytest.raises(ProfileError, match=r"extension 103.*no SIP credentials"):
        Renderer().system_files(c, c.systems[0], CATALOG, creds, ENDPOINT)


def test_malformed_mac_is_refused() -> None:
    with pytest.raises(ValidationError, match="malformed MAC address 'zz:00:00:00:00:01'"):
        Phone(mac="zz:00:00:00:00:01", vendor="snom", model="D785", extension="100")


def test_missing_time_zone_is_refused() -> None:
    with pytest.raises(ConfigError, match="no time zone"):
        phone_timezone("")
    data = dict(CUSTOMER)
    del data["timezone"]
    with pytest.raises(ValidationError, match="timezone"):
        Customer.model_validate(data)


def _book(tmp_path: Path, *customers: dict[str, object]) -> Path:
    (tmp_path / "customers").mkdir()
    for c in customers:
        (tmp_path / "customers" / f"{c['id']}.yml").write_text(yaml.safe_dump(c))
    return tmp_path


def test_book_with_bad_phone_data_fails_with_every_finding(tmp_path: Path) -> None:
    bad = yaml.safe_load(yaml.safe_dump(CUSTOMER))
    bad["systems"][0]["phones"][1]["extension"] = "101"  # duplicate extension on the PBX
    other = yaml.safe_load(yaml.safe_dump(CUSTOMER))
    other.update(id="other", name="Other")
    other["sites"][0]["subnet"] = "10.61.1.0/24"
    other["systems"][0].update(hostname="other-pbx", address="10.61.1.10")
    other["systems"][0]["phones"] = [other["systems"][0]["phones"][0]]  # same MAC as acme
    nozone = yaml.safe_load(yaml.safe_dump(other))
    nozone.update(id="nozone")
    del nozone["timezone"]
    with pytest.raises(BookError) as err:
        load_book(_book(tmp_path, bad, other, nozone))
    text = str(err.value)
    assert "duplicate extension 101 on acme-pbx" in text
    assert "duplicate phone MAC '805ec0000001'" in text
    assert "missing required key 'timezone'" in text


def _broken_templates(tmp_path: Path, vendor_file: str, line_no: int, line: str) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(Renderer().template_dir, root)
    target = root / vendor_file
    lines = target.read_text().splitlines(keepends=True)
    lines.insert(line_no - 1, line + "\n")
    target.write_text("".join(lines))
    return root


def _render_with(templates: Path):  # type: ignore[no-untyped-def]
    c = customer()
    return Renderer(templates).system_files(c, c.systems[0], CATALOG, credentials(c), ENDPOINT)


def test_undefined_variable_names_template_and_line(tmp_path: Path) -> None:
    templates = _broken_templates(tmp_path, "yealink/mac.cfg.j2", 7, "x = {{ phone.nickname }}")
    with pytest.raises(TemplateError, match=r"template yealink/mac\.cfg\.j2, line 7: .*nickname"):
        _render_with(templates)


def test_syntax_error_names_template_and_line(tmp_path: Path) -> None:
    templates = _broken_templates(tmp_path, "snom/mac.xml.j2", 5, "{% if %}")
    with pytest.raises(TemplateError, match=r"template snom/mac\.xml\.j2, line 5"):
        _render_with(templates)


def test_template_producing_bad_xml_is_caught(tmp_path: Path) -> None:
    templates = _broken_templates(tmp_path, "grandstream/cfg.xml.j2", 5, "<P1>{{ '<' | safe }}")
    with pytest.raises(TemplateError, match=r"grandstream/cfg\.xml\.j2 rendered XML that does not parse"):
        _render_with(templates)


def test_sandbox_blocks_python_internals(tmp_path: Path) -> None:
    templates = _broken_templates(
        tmp_path, "yealink/mac.cfg.j2", 4, "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    )
    with pytest.raises(TemplateError, match="line 4"):
        _render_with(templates)


def test_every_profile_has_its_templates() -> None:
    root = Renderer().template_dir
    for profile in PROFILES.values():
        for spec in (*profile.phone_files, *profile.common_files):
            assert (root / spec.template).is_file(), spec.template


def test_lint_hook_reports_a_broken_template_per_pbx(tmp_path: Path) -> None:
    from orchestrator.phones.checks import lint_phone_templates

    book = Path(__file__).resolve().parents[2] / "inventory" / "demo"
    project = tmp_path / "project"
    (project / "templates").mkdir(parents=True)
    templates = _broken_templates(tmp_path, "snom/mac.xml.j2", 3, "{{ phone.nickname }}")
    templates.rename(project / "templates" / "phones")
    findings = lint_phone_templates(project, book)
    assert findings and all("snom/mac.xml.j2, line 3" in msg for _, msg in findings)
    assert any(loc.startswith("customers/alpenblick.yml") for loc, _ in findings)
    assert lint_phone_templates(Path(__file__).resolve().parents[2], book) == []
