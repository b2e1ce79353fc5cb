"""In-memory adapters of the store and content ports, for use-case tests and the consensus harness.

``MemoryStore`` keeps what ``PostgresStore`` keeps, with the same errors, orderings and idempotent
writes; ``MemoryContent`` gives the same CIDv1 as the local CID store. Neither opens a socket.
"""

from services.inmemory.content import MemoryContent
from services.inmemory.store import MemoryStore

__all__ = ["MemoryContent", "MemoryStore"]
