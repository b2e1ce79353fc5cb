"""Content-addressed storage of audit bundles and evidence: a local CID store or IPFS (kubo).

Both stores give the same CIDv1 for the same bytes, the one kubo prints for
``ipfs add --cid-version=1 --raw-leaves`` of a file of at most one chunk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.content.cid import MAX_BLOB_BYTES, ContentCorrupt, cid_of
from services.content.ipfs import IpfsContentStore
from services.content.local import LocalContentStore

if TYPE_CHECKING:
    from services.app.ports import ContentStore
    from services.settings import Settings

__all__ = [
    "MAX_BLOB_BYTES",
    "ContentCorrupt",
    "IpfsContentStore",
    "LocalContentStore",
    "build_content_store",
    "cid_of",
]


def build_content_store(settings: Settings) -> ContentStore:
    """The configured store: kubo at ``ipfs_api_url``, or files in ``data_dir/content``."""
    if settings.content_backend == "ipfs":
        return IpfsContentStore(settings.ipfs_api_url)
    return LocalContentStore(settings.resolved_data_dir / "content")
