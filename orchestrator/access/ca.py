"""The provider's SSH certificate authorities (OpenSSH ``ssh-keygen``).

Two CAs: the **user CA** signs technicians' keys (short-lived, principals ``cust-<id>``),
the **host CA** signs customer hosts' keys so technicians verify hosts with
``@cert-authority`` instead of trusting on first use. CA private keys live in the ledger
only as Fernet tokens (``Vault``) and never touch a filesystem: a CA key is generated in
memory (``cryptography``) and encrypted; for one signature it is decrypted into an
anonymous memory file (``memfd_create``, 0600) that ``ssh-keygen -s /dev/fd/N`` reads.
Such a file has no name anywhere, so nothing is left behind even by kill -9: the kernel
frees it with the last process holding it. Only public material (the key to sign, the
certificate, KRL specs) passes through a temporary directory.
Serials come from the ledger (``access_certificates``), so every certificate is a row.
Revocation is a KRL (``ssh-keygen -k``) built from the revoked serials.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from ..errors import ConfigError
from ..ledger import Ledger
from ..ledger.access import (
    Certificate,
    CertificateRequest,
    StoredKey,
    certificates,
    record_certificate,
    revoked_serials,
    store_key,
    stored_key,
)
from ..secrets import Vault

KINDS = ("user", "host")


def _ssh_keygen(*args: str, input_text: str | None = None, pass_fds: tuple[int, ...] = ()
                ) -> str:
    if shutil.which("ssh-keygen") is None:
        raise ConfigError("ssh-keygen not found: install the Debian package openssh-client")
    done = subprocess.run(
        ["ssh-keygen", *args], capture_output=True, text=True, input=input_text, check=False,
        pass_fds=pass_fds,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise ConfigError(f"ssh-keygen {args[0]}: {last}")
    return done.stdout


@contextmanager
def public_dir() -> Iterator[Path]:
    """A 0700 scratch directory for public material only (keys to sign, certificates,
    KRL specs); removed on exit. Secrets never go here (see ``_ca_file``)."""
    path = Path(tempfile.mkdtemp(prefix="pbxops-pub-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def new_key_pair(comment: str) -> tuple[str, str]:
    """(private key in OpenSSH format, public key line) of a new Ed25519 key, in memory."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
    public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    return private, f"{public} {comment}"


def _name(kind: str) -> str:
    return f"{kind}_ca"


def public_key(ledger: Ledger, kind: str) -> str | None:
    stored = stored_key(ledger, _name(kind))
    return stored.public_key if stored else None


def ensure_ca(ledger: Ledger, vault: Vault, kind: str) -> str:
    """The CA's public key line; the CA is created on first use (first writer wins)."""
    stored = stored_key(ledger, _name(kind))
    if stored is not None:
        return stored.public_key
    if certificates(ledger, kind=kind):
        raise ConfigError(
            f"SSH {kind} CA key missing from the ledger although certificates were "
            "issued with it: restore the ledger from its backup"
        )
    private, public = new_key_pair(f"pbxops {kind} CA")
    token = vault.encrypt(private)
    return store_key(ledger, StoredKey(_name(kind), public, token)).public_key


@contextmanager
def _ca_file(ledger: Ledger, vault: Vault, kind: str) -> Iterator[int]:
    """The CA private key in an anonymous 0600 memory file: its descriptor, for
    ``ssh-keygen -s /dev/fd/N`` (pass it with ``pass_fds``)."""
    stored = stored_key(ledger, _name(kind))
    if stored is None:
        raise ConfigError(
            f"SSH {kind} CA key missing: grant access to a customer first "
            "(`pbxops access grant CUSTOMER` creates the CAs)"
        )
    try:
        secret = vault.decrypt(stored.token)
    except ConfigError as exc:
        raise ConfigError(
            f"cannot decrypt the SSH {kind} CA key: wrong secret key "
            "(PBXOPS_SECRET_KEY or secret_key_file)?"
        ) from exc
    fd = os.memfd_create(f"pbxops-{kind}-ca", os.MFD_CLOEXEC)
    try:
        os.fchmod(fd, 0o600)  # ssh-keygen refuses a key file others could read
        os.write(fd, secret.reveal().encode())
        yield fd
    finally:
        os.close(fd)


FORWARDING = {
    "port": "permit-port-forwarding",
    "agent": "permit-agent-forwarding",
    "x11": "permit-X11-forwarding",
}


def user_options(forwarding: tuple[str, ...], source_addresses: tuple[str, ...]) -> list[str]:
    """``ssh-keygen -O`` options of a technician's certificate: a pty and nothing else
    (ssh-keygen's default also permits port, agent and X11 forwarding and user rc), the
    forwarding asked for, and the addresses it may be used from."""
    unknown = sorted(set(forwarding) - set(FORWARDING))
    if unknown:
        raise ConfigError(f"unknown forwarding {unknown[0]!r} (one of {', '.join(FORWARDING)})")
    opts = ["clear", "permit-pty", *(FORWARDING[f] for f in sorted(set(forwarding)))]
    if source_addresses:
        opts.append("source-address=" + ",".join(source_addresses))
    return [arg for opt in opts for arg in ("-O", opt)]


def extensions(cert_text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What a certificate permits, read back by ``ssh-keygen -L``: (extensions, critical
    options), e.g. (("permit-pty",), ("source-address 10.250.0.1/32",))."""
    shown = _ssh_keygen("-L", "-f", "-", input_text=cert_text.strip() + "\n")
    sections: dict[str, list[str]] = {}
    current = ""
    for line in shown.splitlines():
        stripped = line.strip()
        if stripped.endswith(":") and stripped[:-1] in ("Critical Options", "Extensions"):
            current = stripped[:-1]
            sections[current] = []
        elif current and line.startswith(" " * 16) and stripped:
            sections[current].append(stripped)
        elif not line.startswith(" " * 16):
            current = ""
    return tuple(sections.get("Extensions", [])), tuple(sections.get("Critical Options", []))


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def sign(ledger: Ledger, vault: Vault, req: CertificateRequest) -> tuple[Certificate, str]:
    """Sign ``req.public_key`` with the CA of ``req.kind``; return the row and cert text."""
    if req.kind not in KINDS:
        raise ValueError(req.kind)
    with _ca_file(ledger, vault, req.kind) as ca, public_dir() as tmp:

        def do_sign(serial: int) -> str:
            pub = tmp / "subject.pub"
            pub.write_text(req.public_key.strip() + "\n")
            args = ["-q", "-s", f"/dev/fd/{ca}", "-I", f"{req.subject} serial={serial}"]
            args += ["-n", ",".join(req.principals), "-z", str(serial)]
            args += ["-V", f"{_stamp(req.valid_after)}:{_stamp(req.valid_before)}"]
            if req.kind == "host":
                args.append("-h")
            else:
                args += user_options(req.forwarding, req.source_addresses)
            _ssh_keygen(*args, str(pub), pass_fds=(ca,))
            return (tmp / "subject-cert.pub").read_text().strip()

        return record_certificate(ledger, req, do_sign)


def build_krl(ledger: Ledger, out_dir: Path) -> Path:
    """The user-CA KRL of every revoked serial. Content-addressed: the same revocations
    give the same file (a KRL embeds its creation time; re-making it would change it)."""
    user_ca = public_key(ledger, "user") or ""
    serials = revoked_serials(ledger)
    spec = "".join(f"serial: {s}\n" for s in serials)
    digest = hashlib.sha256((user_ca + "\0" + spec).encode()).hexdigest()[:16]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"revoked-{digest}.krl"
    if path.is_file():
        return path
    with public_dir() as tmp:
        (tmp / "spec").write_text(spec)
        args = ["-k", "-f", str(tmp / "krl")]
        if user_ca:
            (tmp / "ca.pub").write_text(user_ca + "\n")
            args += ["-s", str(tmp / "ca.pub")]
        _ssh_keygen(*args, str(tmp / "spec"))
        shutil.copyfile(tmp / "krl", path)
    return path


def is_revoked(krl: Path, cert_text: str) -> bool:
    """What sshd will decide for this certificate, asked of ``ssh-keygen -Q``."""
    with public_dir() as tmp:
        cert = tmp / "c-cert.pub"
        cert.write_text(cert_text.strip() + "\n")
        done = subprocess.run(
            ["ssh-keygen", "-Q", "-f", str(krl), str(cert)],
            capture_output=True,
            text=True,
            check=False,
        )
    return done.returncode != 0 or "REVOKED" in done.stdout
