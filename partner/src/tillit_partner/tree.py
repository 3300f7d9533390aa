"""The Merkle tree of RFC 9162 (section 2.1), its proofs and their verification.

Pure functions, no database: the log stores the hash of every complete subtree once (a tree of
n leaves has 2n - popcount(n) of them), numbered in the order they come into being, as Go's
checksum database numbers its "stored hashes". A subtree at (level, index) covers the leaves
[index * 2**level, (index + 1) * 2**level). Every root, inclusion proof and consistency proof is
then a fold over at most about 2 log2(n) stored hashes, fetched with one call of a `Reader`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# The hashes at these stored indexes, in the same order.
Reader = Callable[[Sequence[int]], Sequence[bytes]]
# A range of leaves [start, end) whose hash a proof carries.
Span = tuple[int, int]


class ProofError(ValueError):
    """A proof that does not prove what it claims."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def stored_count(size: int) -> int:
    """How many stored hashes a tree of `size` leaves has."""
    return 2 * size - size.bit_count()


def stored_index(level: int, index: int) -> int:
    """Where the hash of the subtree at (level, index) is stored: it is made when the subtree's
    last leaf arrives, after that leaf's own hash and those of the smaller subtrees it ends."""
    last_leaf = ((index + 1) << level) - 1
    return stored_count(last_leaf) + level


class Frontier:
    """The right edge of a growing tree: the complete subtrees its size is made of, largest
    first. Appending a leaf hash returns the stored hashes it makes, in stored-index order."""

    def __init__(self, size: int = 0, edge: Sequence[bytes] = ()) -> None:
        self.size = size
        self.levels = [level for level, _ in _edge_coordinates(size)]
        self.hashes = list(edge)
        if len(self.hashes) != len(self.levels):
            raise ValueError(f"a tree of {size} leaves has {len(self.levels)} edge hashes")

    def push(self, leaf: bytes) -> list[bytes]:
        made = [leaf]
        level, current = 0, leaf
        while self.levels and self.levels[-1] == level:
            self.levels.pop()
            current = node_hash(self.hashes.pop(), current)
            level += 1
            made.append(current)
        self.levels.append(level)
        self.hashes.append(current)
        self.size += 1
        return made

    def root(self) -> bytes:
        return _fold(self.hashes) if self.hashes else EMPTY_ROOT


def frontier(size: int, read: Reader) -> Frontier:
    coordinates = _edge_coordinates(size)
    return Frontier(size, read([stored_index(level, i) for level, i in coordinates]))


def append(size: int, leaves: Iterable[bytes], read: Reader) -> list[bytes]:
    """The stored hashes that appending these leaf hashes to a tree of `size` adds, in order
    from stored_count(size)."""
    edge = frontier(size, read)
    made: list[bytes] = []
    for leaf in leaves:
        made.extend(edge.push(leaf))
    return made


def root(size: int, read: Reader) -> bytes:
    return frontier(size, read).root()


def inclusion_proof(index: int, size: int, read: Reader) -> list[bytes]:
    """The audit path of RFC 9162 2.1.3.1 for leaf `index` in the tree of `size` leaves."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    spans: list[Span] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            spans.append((start + k, end))
            end = start + k
        else:
            spans.append((start, start + k))
            start += k
    return _hash_spans(reversed(spans), read)


def consistency_proof(old_size: int, new_size: int, read: Reader) -> list[bytes]:
    """The consistency proof of RFC 9162 2.1.4.1 from `old_size` to `new_size`."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    spans: list[Span] = []
    start, end, whole = 0, new_size, True
    m = old_size
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            spans.append((start + k, end))
            end = start + k
        else:
            spans.append((start, start + k))
            m -= k
            start += k
            whole = False
    if not whole:
        spans.append((start, end))
    return _hash_spans(reversed(spans), read)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """RFC 9162 2.1.3.2: recompute the root from the leaf and its path."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in _checked([*proof, leaf, root_hash])[:-2]:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    if r != root_hash:
        raise ProofError(f"leaf {index} is not in this tree of {size}: the roots differ")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 2.1.4.2: the tree of `old_size` is a prefix of the tree of `new_size`."""
    proof = _checked([*proof, old_root, new_root])[:-2]
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of {new_size} cannot extend one of {old_size}")
    if old_size in (0, new_size):
        _verify_trivially_consistent(old_size, new_size, old_root, new_root, proof)
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    if old_size & (old_size - 1) == 0:
        proof = [old_root, *proof]
    fr, sr = _consistency_roots(old_size, new_size, proof)
    if fr != old_root:
        raise ProofError(f"the tree of {new_size} does not begin with this tree of {old_size}")
    if sr != new_root:
        raise ProofError(f"the proof does not lead to this tree of {new_size}")


def _verify_trivially_consistent(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> None:
    """From the empty tree, or to a tree of the same size: the proof is empty."""
    if proof:
        raise ProofError("this consistency proof should be empty")
    if old_size == 0 and old_root != EMPTY_ROOT:
        raise ProofError("the empty tree has another root")
    if old_size == new_size and old_root != new_root:
        raise ProofError(f"two different trees of size {new_size}")


def _consistency_roots(old_size: int, new_size: int, proof: list[bytes]) -> tuple[bytes, bytes]:
    """The old and the new root, as the proof rebuilds them (steps 3 to 6 of 2.1.4.2)."""
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    return fr, sr


class MemoryStore:
    """Stored hashes in a list: for tests, and for recomputing a whole tree to compare."""

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.size = 0

    def read(self, indexes: Sequence[int]) -> list[bytes]:
        return [self.hashes[i] for i in indexes]

    def add(self, leaves: Sequence[bytes]) -> list[bytes]:
        made = append(self.size, leaves, self.read)
        self.hashes.extend(made)
        self.size += len(leaves)
        return made


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where RFC 9162 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def _edge_coordinates(size: int) -> list[tuple[int, int]]:
    """The complete subtrees a tree of `size` leaves is made of, largest (leftmost) first."""
    coordinates, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            coordinates.append((level, start >> level))
            start += 1 << level
    return coordinates


def _span_coordinates(start: int, end: int) -> list[tuple[int, int]]:
    """The complete subtrees that make up the span, left to right: a proof's span is a subtree
    of the RFC's recursion, so the greedy split gives sizes in falling powers of two."""
    coordinates = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start & ((1 << level) - 1):
            level -= 1
        coordinates.append((level, start >> level))
        start += 1 << level
    return coordinates


def _hash_spans(spans: Iterable[Span], read: Reader) -> list[bytes]:
    """One hash per span, read in a single call."""
    parts = [_span_coordinates(start, end) for start, end in spans]
    flat = [stored_index(level, i) for coordinates in parts for level, i in coordinates]
    hashes = list(read(flat))
    out, at = [], 0
    for coordinates in parts:
        out.append(_fold(hashes[at : at + len(coordinates)]))
        at += len(coordinates)
    return out


def _fold(hashes: Sequence[bytes]) -> bytes:
    """The root over subtrees of falling size: each joins the one to its right."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _checked(proof: Sequence[bytes]) -> list[bytes]:
    proof = list(proof)
    if any(len(p) != HASH_SIZE for p in proof):
        raise ProofError(f"every hash, in a proof or a root, is {HASH_SIZE} bytes")
    return proof
