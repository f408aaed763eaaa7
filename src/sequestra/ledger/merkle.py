"""RFC 6962 / RFC 9162 Merkle tree: hashing, proofs from stored subtrees, verification.

A tree of ``size`` leaves is described by its complete subtrees. The node ``(level, index)`` is
the root of the subtree of ``2**level`` leaves that starts at leaf ``index * 2**level``; level 0
holds the leaf hashes. A node exists once the tree has ``(index + 1) * 2**level`` leaves and
never changes afterwards, so a store can write each node once, when it becomes complete.

Every root, inclusion proof and consistency proof is a function of O(log n) stored nodes. Each
proof hash is either one complete node or an *ephemeral* node on the right border of the tree,
rehashed from the few complete nodes that cover it (the approach of transparency-dev/merkle's
``proof`` package). The ``*_plan`` functions compute, without any I/O, which nodes are needed;
the tree functions then make a single batched read through a ``NodeReader``.

Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2, with the edge cases of
transparency-dev/merkle (empty trees, equal sizes). Computing a root is separate from comparing
it: ``root_from_*`` return the calculated root, ``verify_*`` compare it and raise
``RootMismatchError`` carrying both values.

Only the standard library is used, so the offline auditor can ship this module alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sequestra.errors import InputRefused, IntegrityFailure, NotFound, SequestraError

HASH_SIZE = 32
MAX_TREE_SIZE = 1 << 64  # sizes and indices travel as uint64: every value must be below this
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]  # (level, index)
NewNode = tuple[int, int, bytes]  # (level, index, hash)


class MerkleError(SequestraError):
    """Base class of every error of the Merkle tree module."""


class TreeSizeError(MerkleError, InputRefused):
    """An index or tree size is outside what the operation accepts."""


class HashLengthError(MerkleError, InputRefused):
    """A hash given to the tree is not a 32-byte SHA-256 value."""


class NodeReadError(MerkleError, NotFound):
    """A node reader did not return the nodes that were asked for."""


class ProofError(MerkleError):
    """A proof does not verify. Every verification failure is an instance of this class."""


class ProofRangeError(ProofError, InputRefused):
    """The index or tree sizes given with a proof are impossible (index >= size, size1 > size2)."""


class MalformedProofError(ProofError, InputRefused):
    """A proof hash, leaf hash or root is not a 32-byte value."""


class ProofLengthError(ProofError, IntegrityFailure):
    """A proof has the wrong number of hashes for its index and tree sizes."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"proof: expected {expected} hashes, got {got}")
        self.expected = expected
        self.got = got


class RootMismatchError(ProofError, IntegrityFailure):
    """The root calculated from a proof differs from the root it was checked against."""

    def __init__(self, expected: bytes, calculated: bytes, what: str = "root") -> None:
        super().__init__(f"{what}: expected {expected.hex()}, calculated {calculated.hex()}")
        self.expected = expected
        self.calculated = calculated
        self.what = what


class NodeReader(Protocol):
    """Anything that returns stored complete-subtree hashes, in the order asked for."""

    def get_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]:
        """Return the hash of each ``(level, index)`` node; raise NodeReadError if one is absent."""
        ...


def hash_leaf(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash of a whole list of leaf hashes (reference, O(n)).

    Raises HashLengthError if a leaf hash is not 32 bytes.
    """
    level = [_checked_hash(h, "leaf hash", HashLengthError) for h in leaf_hashes]
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = [hash_children(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])  # an odd last node moves up unchanged (left-balanced tree)
        level = paired
    return level[0]


# --- node ids -----------------------------------------------------------------------------


def range_node_ids(begin: int, end: int) -> list[NodeId]:
    """Return the fewest complete nodes covering leaves [begin, end), left to right.

    Raises TreeSizeError unless 0 <= begin <= end < 2**64.
    """
    _check_size("end", end)
    if not 0 <= begin <= end:
        raise TreeSizeError(f"range: expected 0 <= begin <= end, got [{begin}, {end})")
    ids: list[NodeId] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        ids.append((level, begin >> level))
        begin += 1 << level
    return ids


def root_node_ids(size: int) -> list[NodeId]:
    """Return the nodes whose hashes fold into the root of the tree of ``size`` leaves.

    Raises TreeSizeError if size is negative or not below 2**64.
    """
    return range_node_ids(0, size)


@dataclass(frozen=True)
class ProofPlan:
    """How to build a proof from stored nodes: one group of node ids per proof hash, bottom-up.

    A group of one node is a complete subtree used as it is. A longer group is an ephemeral node
    on the right border: the root of the group's nodes (left to right), folded from the right.
    """

    groups: tuple[tuple[NodeId, ...], ...]

    @property
    def node_ids(self) -> list[NodeId]:
        """Every node to read, in the order ``rehash`` expects their hashes."""
        return [node for group in self.groups for node in group]

    def rehash(self, hashes: Sequence[bytes]) -> list[bytes]:
        """Turn the hashes of ``node_ids`` into the proof; raises NodeReadError on a wrong count."""
        if len(hashes) != sum(len(group) for group in self.groups):
            raise NodeReadError(f"plan: expected {len(self.node_ids)} hashes, got {len(hashes)}")
        proof: list[bytes] = []
        position = 0
        for group in self.groups:
            proof.append(_fold(hashes[position : position + len(group)]))
            position += len(group)
        return proof


def inclusion_proof_plan(index: int, size: int) -> ProofPlan:
    """Return the plan of the inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

    Raises TreeSizeError unless 0 <= index < size < 2**64.
    """
    _check_size("size", size)
    if not 0 <= index < size:
        raise TreeSizeError(f"inclusion proof: expected 0 <= index < {size}, got {index}")
    return _plan(reversed(_inclusion_ranges(index, size)))


def consistency_proof_plan(size1: int, size2: int) -> ProofPlan:
    """Return the plan of the consistency proof between tree sizes ``size1`` <= ``size2``.

    The plan is empty when size1 is 0 or equal to size2. Raises TreeSizeError if size1 > size2
    or a size is negative or not below 2**64.
    """
    _check_size("size1", size1)
    _check_size("size2", size2)
    if size1 > size2:
        raise TreeSizeError(f"consistency proof: size1 {size1} > size2 {size2}")
    if size1 in (0, size2):
        return ProofPlan(())
    return _plan(reversed(_consistency_ranges(size1, size2)))


def inclusion_proof_node_ids(index: int, size: int) -> list[NodeId]:
    """Return the stored nodes an inclusion proof needs; raises TreeSizeError like the plan."""
    return inclusion_proof_plan(index, size).node_ids


def consistency_proof_node_ids(size1: int, size2: int) -> list[NodeId]:
    """Return the stored nodes a consistency proof needs; raises TreeSizeError like the plan."""
    return consistency_proof_plan(size1, size2).node_ids


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges of RFC 9162 PATH(index, D[0:size]), top-down."""
    ranges: list[tuple[int, int]] = []
    begin, end = 0, size
    while end - begin > 1:
        mid = begin + _largest_power_of_two_below(end - begin)
        if index < mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((begin, mid))
            begin = mid
    return ranges


def _consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Leaf ranges of RFC 9162 PROOF(size1, D[0:size2]) for 0 < size1 < size2, top-down."""
    ranges: list[tuple[int, int]] = []
    begin, end, whole_tree_known = 0, size2, True
    while size1 != end:
        mid = begin + _largest_power_of_two_below(end - begin)
        if size1 <= mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((begin, mid))
            begin, whole_tree_known = mid, False
    if not whole_tree_known:
        ranges.append((begin, end))
    return ranges


def _plan(ranges: Iterable[tuple[int, int]]) -> ProofPlan:
    return ProofPlan(tuple(tuple(range_node_ids(begin, end)) for begin, end in ranges))


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Root of adjacent subtrees given left to right, from the largest (leftmost) down."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = hash_children(left, result)
    return result


# --- reading a tree -----------------------------------------------------------------------


def read_nodes(reader: NodeReader, ids: Sequence[NodeId]) -> list[bytes]:
    """Read nodes in one batch; raises NodeReadError on a wrong count or a non-32-byte hash."""
    if not ids:
        return []
    hashes = list(reader.get_nodes(ids))
    if len(hashes) != len(ids):
        raise NodeReadError(f"reader: expected {len(ids)} hashes, got {len(hashes)}")
    for node, value in zip(ids, hashes, strict=True):
        if len(value) != HASH_SIZE:
            raise NodeReadError(f"reader: node {node} is {len(value)} bytes, expected 32")
    return hashes


def root_at(size: int, reader: NodeReader) -> bytes:
    """Return the root of the tree of ``size`` leaves from at most 64 stored nodes.

    Raises TreeSizeError for a bad size and NodeReadError if the reader lacks a node.
    """
    ids = root_node_ids(size)
    return _fold(read_nodes(reader, ids)) if ids else EMPTY_ROOT


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """Return the inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

    Raises TreeSizeError unless 0 <= index < size, NodeReadError if the reader lacks a node.
    """
    plan = inclusion_proof_plan(index, size)
    return plan.rehash(read_nodes(reader, plan.node_ids))


def consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    """Return the consistency proof between tree sizes ``size1`` <= ``size2``.

    Raises TreeSizeError if size1 > size2, NodeReadError if the reader lacks a node.
    """
    plan = consistency_proof_plan(size1, size2)
    return plan.rehash(read_nodes(reader, plan.node_ids))


# --- appending ----------------------------------------------------------------------------


def append_leaves(
    start_size: int, leaf_hashes: Sequence[bytes], reader: NodeReader
) -> list[NewNode]:
    """Return every node that becomes complete when the leaves are appended to a tree.

    ``reader`` serves the nodes of the tree of ``start_size`` leaves; it is read once, for the
    right-border nodes that the new leaves complete. The result, level by level (leaves
    first), is what a store must persist in the same transaction as the leaves. Raises
    TreeSizeError if the new size is not below 2**64, HashLengthError for a leaf hash that is
    not 32 bytes, NodeReadError from the reader.
    """
    _check_size("start size", start_size)
    end_size = start_size + len(leaf_hashes)
    _check_size("new size", end_size)
    leaves = [_checked_hash(h, "leaf hash", HashLengthError) for h in leaf_hashes]
    needed = _border_nodes_completed(start_size, end_size)
    border = dict(zip(needed, read_nodes(reader, needed), strict=True))
    created: list[NewNode] = [(0, start_size + i, h) for i, h in enumerate(leaves)]
    below, level = leaves, 0
    while (end_size >> (level + 1)) > (start_size >> (level + 1)):
        first_new_below = start_size >> level
        first = start_size >> (level + 1)
        if first_new_below & 1:  # the left child of the first new node is an old node
            below = [border[(level, first_new_below - 1)], *below]
        level += 1
        sha256 = hashlib.sha256
        above = [
            sha256(b"\x01" + left + right).digest()
            for left, right in zip(below[0::2], below[1::2], strict=False)
        ]
        created.extend((level, first + i, h) for i, h in enumerate(above))
        below = above
    return created


def new_complete_nodes(leaf_index: int, leaf_hash: bytes, reader: NodeReader) -> list[NewNode]:
    """Return the nodes completed by appending one leaf at ``leaf_index`` (see append_leaves)."""
    return append_leaves(leaf_index, [leaf_hash], reader)


def _border_nodes_completed(start_size: int, end_size: int) -> list[NodeId]:
    """Right-border nodes of the old tree whose parent is complete in the new one."""
    return [
        (level, index)
        for level, index in root_node_ids(start_size)
        if ((index >> 1) + 1) << (level + 1) <= end_size
    ]


def _complete_leaf(index: int, leaf_hash: bytes, overlay: dict[NodeId, bytes]) -> list[NewNode]:
    """Add one leaf; left children wait in ``overlay`` until their right sibling arrives."""
    created: list[NewNode] = [(0, index, leaf_hash)]
    level, node_index, node_hash = 0, index, leaf_hash
    while node_index & 1:
        node_hash = hash_children(overlay.pop((level, node_index - 1)), node_hash)
        level, node_index = level + 1, node_index >> 1
        created.append((level, node_index, node_hash))
    overlay[(level, node_index)] = node_hash
    return created


class MemoryNodeStore:
    """A dict-backed node store: a NodeReader that accepts appended leaves.

    Meant for tests and for the offline auditor, which rebuilds a tree from exported entries.
    """

    def __init__(self) -> None:
        self._nodes: dict[NodeId, bytes] = {}
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def get_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Return the stored hashes; raises NodeReadError for a node that is not complete."""
        try:
            return [self._nodes[node] for node in ids]
        except KeyError as error:
            raise NodeReadError(f"node {error.args[0]} is not stored") from None

    def append_leaf_hashes(self, leaf_hashes: Sequence[bytes]) -> list[NewNode]:
        """Append leaf hashes and return the nodes they completed (see append_leaves)."""
        created = append_leaves(self._size, leaf_hashes, self)
        for level, index, node_hash in created:
            self._nodes[(level, index)] = node_hash
        self._size += len(leaf_hashes)
        return created

    def append_entries(self, entries: Iterable[bytes]) -> int:
        """Append entries (hashed as leaves) and return the index of the first one."""
        first = self._size
        self.append_leaf_hashes([hash_leaf(entry) for entry in entries])
        return first

    def root(self, size: int | None = None) -> bytes:
        """Return the root at ``size`` (default: now); raises TreeSizeError beyond the tree."""
        return root_at(self._checked(size), self)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return an inclusion proof at ``size`` (default: now); raises TreeSizeError."""
        return inclusion_proof(index, self._checked(size), self)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Return a consistency proof up to ``size2`` (default: now); raises TreeSizeError."""
        return consistency_proof(size1, self._checked(size2), self)

    def _checked(self, size: int | None) -> int:
        if size is None:
            return self._size
        if size > self._size:
            raise TreeSizeError(f"tree has {self._size} leaves, asked for size {size}")
        return size


# --- verification (RFC 9162 2.1.3.2 and 2.1.4.2) ------------------------------------------


def inclusion_proof_length(index: int, size: int) -> int:
    """Return the number of hashes in the inclusion proof of ``index`` in a tree of ``size``.

    Raises ProofRangeError unless 0 <= index < size < 2**64.
    """
    _check_proof_size("size", size)
    if not 0 <= index < size:
        raise ProofRangeError(f"inclusion proof: expected 0 <= index < {size}, got {index}")
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_length(size1: int, size2: int) -> int:
    """Return the number of hashes in the consistency proof between two tree sizes.

    Raises ProofRangeError unless 0 <= size1 <= size2 < 2**64.
    """
    _check_proof_size("size1", size1)
    _check_proof_size("size2", size2)
    if size1 > size2:
        raise ProofRangeError(f"consistency proof: size1 {size1} > size2 {size2}")
    if size1 in (0, size2):
        return 0
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    inner = (((size1 - 1) ^ (size2 - 1)).bit_length()) - shift
    border = ((size1 - 1) >> (inner + shift)).bit_count()
    seed = 0 if size1 == 1 << shift else 1  # the proof starts with the subtree root unless known
    return seed + inner + border


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """Return the root that an inclusion proof yields for ``leaf_hash`` at ``index`` (RFC 9162).

    Raises ProofRangeError unless 0 <= index < size, MalformedProofError for a hash that is not
    32 bytes, ProofLengthError if the proof has the wrong number of hashes.
    """
    _checked_hash(leaf_hash, "leaf hash", MalformedProofError)
    _check_proof_hashes(proof)
    expected = inclusion_proof_length(index, size)
    _expect_length(expected, proof)
    result, fn, sn = leaf_hash, index, size - 1
    for sibling in proof:
        if sn == 0:
            raise ProofLengthError(expected, len(proof))
        if fn & 1 or fn == sn:
            result = hash_children(sibling, result)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = hash_children(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofLengthError(expected, len(proof))
    return result


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Raises RootMismatchError if the calculated root differs, and the errors of
    root_from_inclusion_proof for malformed input (every one a ProofError).
    """
    _checked_hash(root, "root", MalformedProofError)
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if calculated != root:
        raise RootMismatchError(root, calculated)


def root_from_consistency_proof(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> bytes:
    """Check the proof against ``root1`` and return the root it yields for ``size2`` (RFC 9162).

    Raises ProofRangeError unless 0 < size1 <= size2 (nothing can be calculated from the empty
    tree), ProofLengthError for a wrong number of hashes, MalformedProofError for a hash that
    is not 32 bytes, RootMismatchError if the proof does not yield ``root1``.
    """
    _checked_hash(root1, "first root", MalformedProofError)
    _check_proof_hashes(proof)
    expected_length = consistency_proof_length(size1, size2)
    if size1 == 0:
        raise ProofRangeError("consistency proof: no root can be calculated from the empty tree")
    _expect_length(expected_length, proof)
    if size1 == size2:
        return root1
    return _chain_consistency(size1, size2, proof, root1)


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size2`` leaves with ``root2`` extends the one of ``size1``.

    As in transparency-dev/merkle: equal sizes need an empty proof and equal roots; size1 == 0
    needs an empty proof and is consistent with any tree. Raises RootMismatchError when a root
    differs and the errors of root_from_consistency_proof (every one a ProofError).
    """
    _checked_hash(root1, "first root", MalformedProofError)
    _checked_hash(root2, "second root", MalformedProofError)
    _check_proof_hashes(proof)
    _expect_length(consistency_proof_length(size1, size2), proof)
    if size1 == size2:
        calculated = root1
    elif size1 == 0:
        return
    else:
        calculated = _chain_consistency(size1, size2, proof, root1)
    if calculated != root2:
        raise RootMismatchError(root2, calculated, "second root")


def _chain_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes) -> bytes:
    """RFC 9162 2.1.4.2 steps 2-7 for 0 < size1 < size2 and a proof of the right length."""
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = second = path[0]
    expected = consistency_proof_length(size1, size2)
    for node in path[1:]:
        if sn == 0:
            raise ProofLengthError(expected, len(proof))
        if fn & 1 or fn == sn:
            first, second = hash_children(node, first), hash_children(node, second)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            second = hash_children(second, node)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofLengthError(expected, len(proof))
    if first != root1:
        raise RootMismatchError(root1, first, "first root")
    return second


def _expect_length(expected: int, proof: Sequence[bytes]) -> None:
    if len(proof) != expected:
        raise ProofLengthError(expected, len(proof))


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for position, value in enumerate(proof):
        _checked_hash(value, f"proof hash {position}", MalformedProofError)


def _checked_hash(value: bytes, what: str, error: type[MerkleError]) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise error(f"{what}: expected 32 bytes, got {got}")
    return bytes(value)


def _check_size(what: str, value: int) -> None:
    if not 0 <= value < MAX_TREE_SIZE:
        raise TreeSizeError(f"{what}: expected 0 <= {what} < 2**64, got {value}")


def _check_proof_size(what: str, value: int) -> None:
    if not 0 <= value < MAX_TREE_SIZE:
        raise ProofRangeError(f"{what}: expected 0 <= {what} < 2**64, got {value}")
