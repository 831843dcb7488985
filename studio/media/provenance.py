"""C2PA provenance: a signed manifest saying a render is AI-generated, by which studio and model.

Signing is offline: on first use the studio makes its own small certificate chain (a root, an intermediate and an
ES256 signing certificate, with the extensions C2PA's certificate profile asks for) in the user's config folder, and
never asks a timestamp authority. Readers therefore report the signer as untrusted unless they are told to trust
root.pem; the manifest itself is intact and readable. The c2pa and cryptography packages are imported only when a
file is signed, and any failure is a ProvenanceError, so a caller can export without provenance rather than lose work.
"""
from __future__ import annotations

import datetime
import errno
import importlib.util
import io
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio import __version__
from studio.paths import user_config_dir

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
MIME_TYPES = {"mp4": "video/mp4", "png": "image/png", "gif": "image/gif"}  # the formats c2pa can sign
KEY_FILE, CHAIN_FILE, ROOT_FILE = "signing-key.pem", "signing-chain.pem", "root.pem"
_YEARS = datetime.timedelta(days=365)


class ProvenanceError(Exception):
    """Signing did not happen; the message says why (c2pa missing, unreadable key, a signing failure)."""


@dataclass(frozen=True)
class Credentials:
    private_key_pem: bytes
    chain_pem: bytes  # signing certificate first, then the intermediate (never the root, as C2PA asks)
    folder: Path


def signing_folder() -> Path:
    return user_config_dir() / "c2pa"


def manifest(title: str, mime: str, model: str | None = None) -> dict[str, Any]:
    """The manifest definition of one export: created by the studio, with a trained model, from nothing."""
    action: dict[str, Any] = {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": {"name": "studio", "version": __version__},
    }
    if model:
        action["parameters"] = {"model": model}
    return {
        "claim_generator_info": [{"name": "studio", "version": __version__}],
        "title": title,
        "format": mime,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}],
    }


def sign_file(source: Path, dest: Path, kind: str, definition: dict[str, Any]) -> None:
    """Write `source` with a signed C2PA manifest to the new file `dest`; raises ProvenanceError."""
    if kind not in MIME_TYPES:
        raise ProvenanceError(f"C2PA cannot sign {kind} files")
    context = _signing_context()
    import c2pa

    try:
        builder = c2pa.Builder(definition, context)
        with open(source, "rb") as reader, open(dest, "xb") as writer:
            builder.sign(MIME_TYPES[kind], reader, writer)
    except (c2pa.C2paError, OSError, ValueError) as exc:
        raise ProvenanceError(f"C2PA signing failed: {exc}") from None


def sign_bytes(data: bytes, kind: str, definition: dict[str, Any]) -> bytes:
    """`data` (a whole file of format `kind`) with a signed C2PA manifest; raises ProvenanceError."""
    if kind not in MIME_TYPES:
        raise ProvenanceError(f"C2PA cannot sign {kind} files")
    context = _signing_context()
    import c2pa

    out = io.BytesIO()
    try:
        c2pa.Builder(definition, context).sign(MIME_TYPES[kind], io.BytesIO(data), out)
    except (c2pa.C2paError, ValueError) as exc:
        raise ProvenanceError(f"C2PA signing failed: {exc}") from None
    return out.getvalue()


_contexts: dict[Path, Any] = {}


def _signing_context():
    """A c2pa Context holding the signer (made once per process and credentials folder)."""
    folder = signing_folder()
    if folder in _contexts:
        return _contexts[folder]
    try:
        import c2pa
    except ImportError:
        raise ProvenanceError("C2PA provenance is off: the c2pa-python package is not installed") from None
    credentials = signing_credentials(folder)
    try:
        info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, credentials.chain_pem, credentials.private_key_pem,
                                   None)  # no timestamp authority: signing never touches the network
        # No thumbnail (it would embed a JPEG preview in every frame and cost far more than the signature), and no
        # re-reading of what was just signed.
        settings = c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}},
                                            "verify": {"verify_after_sign": False}})
        context = c2pa.Context(settings=settings, signer=c2pa.Signer.from_info(info))
    except (c2pa.C2paError, ValueError) as exc:
        raise ProvenanceError(f"cannot use the signing key in {credentials.folder}: {exc}") from None
    _contexts[folder] = context
    return context


def signing_credentials(folder: Path | None = None) -> Credentials:
    """The studio's signing key and certificate chain, created in `folder` (default: the user's config folder) on
    first use; the private key file is readable by its owner only (0600)."""
    folder = folder or signing_folder()
    if not (folder / KEY_FILE).exists():
        _create_credentials(folder)
    try:
        return Credentials((folder / KEY_FILE).read_bytes(), (folder / CHAIN_FILE).read_bytes(), folder)
    except OSError as exc:
        raise ProvenanceError(f"cannot read the signing key in {folder}: {exc.strerror or exc}") from None


def _create_credentials(folder: Path) -> None:
    if importlib.util.find_spec("cryptography") is None:
        raise ProvenanceError("C2PA provenance is off: the cryptography package is not installed")
    # Build the files in a private temporary folder, then rename it into place: a crash never leaves half a key, and
    # of two studios starting at once, the first to finish wins and the other uses its key.
    temp = folder.parent / f".{folder.name}.partial-{uuid.uuid4().hex[:12]}"
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        temp.mkdir(mode=0o700)
        key_pem, chain_pem, root_pem = _new_chain()
        descriptor = os.open(temp / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key_pem)
        os.chmod(temp / KEY_FILE, 0o600)  # exactly 0600, whatever the umask took away
        (temp / CHAIN_FILE).write_bytes(chain_pem)
        (temp / ROOT_FILE).write_bytes(root_pem)
        try:
            os.rename(temp, folder)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not (folder / KEY_FILE).exists():
                raise
    except OSError as exc:
        raise ProvenanceError(f"cannot create a signing key in {folder}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _new_chain() -> tuple[bytes, bytes, bytes]:
    """(signing key PEM, chain PEM, root certificate PEM): ES256 (P-256) keys; the root and intermediate keys are
    thrown away once they have signed, so the only secret kept is the signing key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    instance = uuid.uuid4().hex[:8]  # tells one user's studio from another's without naming the user or machine

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "studio (self-issued)")])

    def certificate(subject, issuer, public_key, issuer_key, is_ca: bool, years: int) -> x509.Certificate:
        usage = dict(digital_signature=not is_ca, content_commitment=False, key_encipherment=False,
                     data_encipherment=False, key_agreement=False, key_cert_sign=is_ca, crl_sign=is_ca,
                     encipher_only=False, decipher_only=False)
        builder = (x509.CertificateBuilder()
                   .subject_name(subject).issuer_name(issuer).public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))  # a little clock skew is no reason to fail
                   .not_valid_after(now + years * _YEARS)
                   .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(**usage), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                  critical=False))
        if not is_ca:  # C2PA wants an explicit purpose on the signing certificate; email protection is accepted
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                                            critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    root_key, middle_key, signing_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root_name = name(f"studio local root {instance}")
    root = certificate(root_name, root_name, root_key.public_key(), root_key, True, 30)
    middle = certificate(name(f"studio local signing CA {instance}"), root_name, middle_key.public_key(), root_key,
                         True, 30)
    signer = certificate(name(f"studio {instance}"), middle.subject, signing_key.public_key(), middle_key, False, 25)
    pem = serialization.Encoding.PEM
    key_pem = signing_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key_pem, signer.public_bytes(pem) + middle.public_bytes(pem), root.public_bytes(pem)
