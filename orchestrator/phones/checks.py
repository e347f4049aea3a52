"""``pbxops lint`` hook: render every phone of the book with placeholder credentials, so a
template or profile problem shows up in CI, before a publish."""

from __future__ import annotations

from pathlib import Path

from ..errors import BookError, PbxopsError
from ..fleet import load_book
from ..secrets import Redacted
from .render import Credential, Endpoint, Renderer

_PLACEHOLDER = Redacted("lint-placeholder-password")


def lint_phone_templates(project: Path, book: Path) -> list[tuple[str, str]]:
    """(location, message) for every PBX whose phones do not render."""
    try:
        fleet = load_book(book)
    except BookError:
        return []  # the book check reports those
    renderer = Renderer(project / "templates" / "phones")
    findings = []
    for ref in fleet.hosts():
        creds = {p.extension: Credential(p.extension, _PLACEHOLDER) for p in ref.system.phones}
        endpoint = Endpoint(str(ref.address), f"http://{ref.address}/")
        try:
            renderer.system_files(ref.customer, ref.system, fleet.catalog, creds, endpoint)
        except PbxopsError as exc:
            rel = fleet.files.get(ref.customer.id, ref.customer.id)
            findings.append((f"{rel} ({ref.hostname} phones)", str(exc)))
    return findings


def register() -> None:
    from .. import lint

    if lint_phone_templates not in lint.BOOK_RENDERERS:
        lint.BOOK_RENDERERS.append(lint_phone_templates)
