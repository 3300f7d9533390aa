"""The audit log's Merkle tree (tillit_partner.tree), proved against work not done here.

1. Published test vectors of RFC 6962 / RFC 9162 trees: the 8-leaf tree of Google's Certificate
   Transparency and transparency-dev/merkle (hashes, roots, proofs), the verifier probes of
   transparency-dev/merkle (many of them proofs that must fail) and a proof from a real CT log.
2. pymerkle, an independent implementation: the same roots and inclusion proofs for every tree
   of 1..70 leaves and for random larger ones, each side's proofs accepted by the other's
   verifier; consistency proofs equal to RFC 9162's definition, hashed by pymerkle.
3. Properties: a tampered proof is always refused with ProofError; appending in batches stores
   what one batch stores; the stored-hash numbering is Go's and has no gaps; a proof reads
   O(log n) stored hashes, up to trees of 2**20 leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

import pymerkle
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pymerkle.hasher import MerkleHasher
from tillit_partner import tree
from tillit_partner.tree import ProofError

# The log is the audit trail's tamper evidence: every recorded disclosure stays provable.
pytestmark = pytest.mark.promise("P24")

# Hypothesis writes no example database into the working tree; proofs have no deadline.
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# pymerkle's own hashing (SHA-256 with RFC 6962's 0x00 / 0x01 prefixes), so that every oracle
# below hashes with code that is not tillit's.
THEIRS = MerkleHasher("sha256")


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


# --- 1. Published vectors -----------------------------------------------------------------

# The 8-leaf tree of transparency-dev/merkle testonly/constants.go (LeafInputs, NodeHashes,
# RootHashes, EmptyRootHash); the same leaves and roots are in google/certificate-transparency
# python/ct/crypto/merkle_test.py (test_vector_leaves, test_vector_hashes).
LEAF_INPUTS = [
    hx(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
# NODE_HASHES[level][index]: the hash of the complete subtree of 2**level leaves at index.
NODE_HASHES = [
    [
        hx("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        hx("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        hx("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        hx("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        hx("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        hx("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        hx("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        hx("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        hx("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        hx("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        hx("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        hx("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        hx("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        hx("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [hx("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]
# ROOTS[size] for the trees of the first `size` leaves.
ROOTS = [
    hx("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    hx("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    hx("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    hx("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    hx("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    hx("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    hx("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    hx("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    hx("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# Every hash the probes below name: the tree's nodes as n<level><index>, its roots, and the
# probes' own odd values (transparency-dev/merkle testdata, decoded from base64).
HASHES: dict[str, bytes] = {
    "empty_root": ROOTS[0],
    **{f"root{size}": ROOTS[size] for size in (3, 5, 6, 7)},
    **{f"n{level}{i}": h for level, row in enumerate(NODE_HASHES) for i, h in enumerate(row)},
    "nothing": b"",
    "random": hx("abacaba000000000000000000000000000000000000000000060061e00123456"),
    "lone_leaf": hx("0d3aed023148ffd2a259fbd0cdc7fb3cf975658760d3775b82af6f90aacc2dfc"),
    "WrongLeaf": b"WrongLeaf",
    "WrongRoot": b"WrongRoot",
    "dont_care1": b"don't care 1",
    "dont_care2": b"don't care 2",
    # The tree's hashes with one bit flipped.
    "n00_flipped": hx("66340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    "n01_flipped": hx("86a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
    "n04_flipped": hx("ac1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    "n06_flipped": hx("a08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
    "n10_flipped": hx("f2c54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    "n11_flipped": hx("4f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
    "n12_flipped": hx("1ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
    "n13_flipped": hx("da854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    "n20_flipped": hx("c37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    "n21_flipped": hx("7b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
}

# Inclusion proofs of the 8-leaf tree, (index, size, proof): transparency-dev/merkle
# testonly/reference_test.go (TestRefInclusionProof) and testdata/inclusion/*/happy-path.json.
INCLUSION_PROOFS = [
    (0, 1, []),
    (0, 2, ["n01"]),
    (1, 2, ["n00"]),
    (2, 3, ["n10"]),
    (1, 5, ["n00", "n11", "n04"]),
    (0, 8, ["n01", "n11", "n21"]),
    (5, 8, ["n04", "n13", "n20"]),
]
# Consistency proofs of the 8-leaf tree, (old size, new size, proof): transparency-dev/merkle
# testonly/reference_test.go (TestRefConsistencyProof), testdata/consistency/*/happy-path.json;
# also google/certificate-transparency python/ct/crypto/merkle_test.py (sha256_proofs).
CONSISTENCY_PROOFS = [
    (1, 1, []),
    (1, 8, ["n01", "n11", "n21"]),
    (2, 5, ["n11", "n04"]),
    (6, 8, ["n12", "n13", "n20"]),
    (6, 7, ["n12", "n06", "n20"]),
]

# Go's golang.org/x/mod/sumdb/tlog stores a leaf's hash and then the hash of every subtree that
# leaf completes: the 15 stored hashes of an 8-leaf tree, (level, index), by stored index.
GO_STORED_ORDER_8 = [
    (0, 0),
    (0, 1),
    (1, 0),
    (0, 2),
    (0, 3),
    (1, 1),
    (2, 0),
    (0, 4),
    (0, 5),
    (1, 2),
    (0, 6),
    (0, 7),
    (1, 3),
    (2, 1),
    (3, 0),
]

# The verifier probes of transparency-dev/merkle (testdata/inclusion/**.json and
# testdata/consistency/**.json, read by proof/verify_test.go), named by their file, each with
# the hashes named as in HASHES. Inclusion: (file, index, size, leaf hash, proof, root, must
# fail). Consistency: (file, old size, new size, old root, new root, proof, must fail).
# "leafIdx-sub-@1" of leaf 0 is Go's uint64 wrapping to 2**64 - 1.
INCLUSION_PROBES = [
    ("0/empty-root", 0, 1, "n00", (), "empty_root", True),
    ("0/happy-path", 0, 1, "n00", (), "n00", False),
    ("0/leafIdx-XOR-@2", 2, 1, "n00", (), "n00", True),
    ("0/leafIdx-plus-@1", 1, 1, "n00", (), "n00", True),
    ("0/leafIdx-sub-@1", 18446744073709551615, 1, "n00", (), "n00", True),
    ("0/preceding-garbage", 0, 1, "n00", ("nothing",), "n00", True),
    ("0/preceding-root", 0, 1, "n00", ("n00",), "n00", True),
    ("0/random-root", 0, 1, "n00", (), "random", True),
    ("0/trailing-garbage", 0, 1, "n00", ("nothing",), "n00", True),
    ("0/trailing-root", 0, 1, "n00", ("n00",), "n00", True),
    ("0/treeSize-div-@2", 0, 0, "n00", (), "n00", True),
    ("0/treeSize-mul-@2", 0, 2, "n00", (), "n00", True),
    ("0/wrong-leaf", 0, 1, "WrongLeaf", (), "n00", True),
    ("1/empty-root", 0, 8, "n00", ("n01", "n11", "n21"), "empty_root", True),
    ("1/happy-path", 0, 8, "n00", ("n01", "n11", "n21"), "n30", False),
    ("1/inserted-component", 0, 8, "n00", ("n01", "random", "n11", "n21"), "n30", True),
    ("1/leafIdx-XOR-@2", 2, 8, "n00", ("n01", "n11", "n21"), "n30", True),
    ("1/leafIdx-plus-@1", 1, 8, "n00", ("n01", "n11", "n21"), "n30", True),
    ("1/leafIdx-sub-@1", 18446744073709551615, 8, "n00", ("n01", "n11", "n21"), "n30", True),
    ("1/modified-proof[0]-bit-@3", 0, 8, "n00", ("n01_flipped", "n11", "n21"), "n30", True),
    ("1/modified-proof[1]-bit-@3", 0, 8, "n00", ("n01", "n11_flipped", "n21"), "n30", True),
    ("1/modified-proof[2]-bit-@3", 0, 8, "n00", ("n01", "n11", "n21_flipped"), "n30", True),
    ("1/preceding-garbage", 0, 8, "n00", ("nothing", "n01", "n11", "n21"), "n30", True),
    ("1/preceding-root", 0, 8, "n00", ("n30", "n01", "n11", "n21"), "n30", True),
    ("1/random-root", 0, 8, "n00", ("n01", "n11", "n21"), "random", True),
    ("1/removed-component", 0, 8, "n00", ("n01", "n11"), "n30", True),
    ("1/trailing-garbage", 0, 8, "n00", ("n01", "n11", "n21", "nothing"), "n30", True),
    ("1/trailing-root", 0, 8, "n00", ("n01", "n11", "n21", "n30"), "n30", True),
    ("1/treeSize-div-@2", 0, 4, "n00", ("n01", "n11", "n21"), "n30", True),
    ("1/treeSize-mul-@2", 0, 16, "n00", ("n01", "n11", "n21"), "n30", True),
    ("1/wrong-leaf", 0, 8, "WrongLeaf", ("n01", "n11", "n21"), "n30", True),
    ("2/empty-root", 5, 8, "n05", ("n04", "n13", "n20"), "empty_root", True),
    ("2/happy-path", 5, 8, "n05", ("n04", "n13", "n20"), "n30", False),
    ("2/inserted-component", 5, 8, "n05", ("n04", "random", "n13", "n20"), "n30", True),
    ("2/leafIdx-XOR-@2", 7, 8, "n05", ("n04", "n13", "n20"), "n30", True),
    ("2/leafIdx-plus-@1", 6, 8, "n05", ("n04", "n13", "n20"), "n30", True),
    ("2/leafIdx-sub-@1", 4, 8, "n05", ("n04", "n13", "n20"), "n30", True),
    ("2/modified-proof[0]-bit-@3", 5, 8, "n05", ("n04_flipped", "n13", "n20"), "n30", True),
    ("2/modified-proof[1]-bit-@3", 5, 8, "n05", ("n04", "n13_flipped", "n20"), "n30", True),
    ("2/modified-proof[2]-bit-@3", 5, 8, "n05", ("n04", "n13", "n20_flipped"), "n30", True),
    ("2/preceding-garbage", 5, 8, "n05", ("nothing", "n04", "n13", "n20"), "n30", True),
    ("2/preceding-root", 5, 8, "n05", ("n30", "n04", "n13", "n20"), "n30", True),
    ("2/random-root", 5, 8, "n05", ("n04", "n13", "n20"), "random", True),
    ("2/removed-component", 5, 8, "n05", ("n04", "n13"), "n30", True),
    ("2/trailing-garbage", 5, 8, "n05", ("n04", "n13", "n20", "nothing"), "n30", True),
    ("2/trailing-root", 5, 8, "n05", ("n04", "n13", "n20", "n30"), "n30", True),
    ("2/treeSize-div-@2", 5, 4, "n05", ("n04", "n13", "n20"), "n30", True),
    ("2/treeSize-mul-@2", 5, 16, "n05", ("n04", "n13", "n20"), "n30", True),
    ("2/wrong-leaf", 5, 8, "WrongLeaf", ("n04", "n13", "n20"), "n30", True),
    ("3/empty-root", 2, 3, "n02", ("n10",), "empty_root", True),
    ("3/happy-path", 2, 3, "n02", ("n10",), "root3", False),
    ("3/leafIdx-XOR-@2", 0, 3, "n02", ("n10",), "root3", True),
    ("3/leafIdx-plus-@1", 3, 3, "n02", ("n10",), "root3", True),
    ("3/leafIdx-sub-@1", 1, 3, "n02", ("n10",), "root3", True),
    ("3/modified-proof[0]-bit-@3", 2, 3, "n02", ("n10_flipped",), "root3", True),
    ("3/preceding-garbage", 2, 3, "n02", ("nothing", "n10"), "root3", True),
    ("3/preceding-root", 2, 3, "n02", ("root3", "n10"), "root3", True),
    ("3/random-root", 2, 3, "n02", ("n10",), "random", True),
    ("3/removed-component", 2, 3, "n02", (), "root3", True),
    ("3/trailing-garbage", 2, 3, "n02", ("n10", "nothing"), "root3", True),
    ("3/trailing-root", 2, 3, "n02", ("n10", "root3"), "root3", True),
    ("3/treeSize-div-@2", 2, 1, "n02", ("n10",), "root3", True),
    ("3/treeSize-mul-@2", 2, 6, "n02", ("n10",), "root3", True),
    ("3/wrong-leaf", 2, 3, "WrongLeaf", ("n10",), "root3", True),
    ("4/empty-root", 1, 5, "n01", ("n00", "n11", "n04"), "empty_root", True),
    ("4/happy-path", 1, 5, "n01", ("n00", "n11", "n04"), "root5", False),
    ("4/inserted-component", 1, 5, "n01", ("n00", "random", "n11", "n04"), "root5", True),
    ("4/leafIdx-XOR-@2", 3, 5, "n01", ("n00", "n11", "n04"), "root5", True),
    ("4/leafIdx-plus-@1", 2, 5, "n01", ("n00", "n11", "n04"), "root5", True),
    ("4/leafIdx-sub-@1", 0, 5, "n01", ("n00", "n11", "n04"), "root5", True),
    ("4/modified-proof[0]-bit-@3", 1, 5, "n01", ("n00_flipped", "n11", "n04"), "root5", True),
    ("4/modified-proof[1]-bit-@3", 1, 5, "n01", ("n00", "n11_flipped", "n04"), "root5", True),
    ("4/modified-proof[2]-bit-@3", 1, 5, "n01", ("n00", "n11", "n04_flipped"), "root5", True),
    ("4/preceding-garbage", 1, 5, "n01", ("nothing", "n00", "n11", "n04"), "root5", True),
    ("4/preceding-root", 1, 5, "n01", ("root5", "n00", "n11", "n04"), "root5", True),
    ("4/random-root", 1, 5, "n01", ("n00", "n11", "n04"), "random", True),
    ("4/removed-component", 1, 5, "n01", ("n00", "n11"), "root5", True),
    ("4/trailing-garbage", 1, 5, "n01", ("n00", "n11", "n04", "nothing"), "root5", True),
    ("4/trailing-root", 1, 5, "n01", ("n00", "n11", "n04", "root5"), "root5", True),
    ("4/treeSize-div-@2", 1, 2, "n01", ("n00", "n11", "n04"), "root5", True),
    ("4/treeSize-mul-@2", 1, 10, "n01", ("n00", "n11", "n04"), "root5", True),
    ("4/wrong-leaf", 1, 5, "WrongLeaf", ("n00", "n11", "n04"), "root5", True),
    ("additional/0/empty-root-and-random-leaf", 0, 0, "random", (), "empty_root", True),
    ("additional/0/empty-root", 0, 0, "nothing", (), "empty_root", True),
    ("additional/0/random-leaf", 0, 0, "random", (), "nothing", True),
    ("additional/1/empty-root-and-random-leaf", 0, 1, "random", (), "empty_root", True),
    ("additional/1/empty-root", 0, 1, "nothing", (), "empty_root", True),
    ("additional/1/random-leaf", 0, 1, "random", (), "nothing", True),
    ("additional/2/empty-root-and-random-leaf", 1, 0, "random", (), "empty_root", True),
    ("additional/2/empty-root", 1, 0, "nothing", (), "empty_root", True),
    ("additional/2/random-leaf", 1, 0, "random", (), "nothing", True),
    ("additional/3/empty-root-and-random-leaf", 2, 1, "random", (), "empty_root", True),
    ("additional/3/empty-root", 2, 1, "nothing", (), "empty_root", True),
    ("additional/3/random-leaf", 2, 1, "random", (), "nothing", True),
    ("single-entry/empty-leaf", 0, 1, "nothing", (), "lone_leaf", True),
    ("single-entry/empty-root-and-leaf", 0, 1, "nothing", (), "nothing", True),
    ("single-entry/empty-root", 0, 1, "lone_leaf", (), "nothing", True),
    ("single-entry/matching-root-and-leaf", 0, 1, "lone_leaf", (), "lone_leaf", False),
]
CONSISTENCY_PROBES = [
    ("0/happy-path", 1, 1, "n00", "n00", (), False),
    ("1/empty-proof", 1, 8, "n00", "n30", (), True),
    ("1/happy-path", 1, 8, "n00", "n30", ("n01", "n11", "n21"), False),
    ("1/modified-proof@0-bit-@4", 1, 8, "n00", "n30", ("n01_flipped", "n11", "n21"), True),
    ("1/modified-proof@1-bit-@4", 1, 8, "n00", "n30", ("n01", "n11_flipped", "n21"), True),
    ("1/modified-proof@2-bit-@4", 1, 8, "n00", "n30", ("n01", "n11", "n21_flipped"), True),
    ("1/preceding-garbage", 1, 8, "n00", "n30", ("nothing", "n01", "n11", "n21"), True),
    ("1/preceding-proof-@0", 1, 8, "n00", "n30", ("n01", "n01", "n11", "n21"), True),
    ("1/preceding-root1", 1, 8, "n00", "n30", ("n00", "n01", "n11", "n21"), True),
    ("1/preceding-root2", 1, 8, "n00", "n30", ("n30", "n01", "n11", "n21"), True),
    ("1/size1-XOR-@2", 3, 8, "n00", "n30", ("n01", "n11", "n21"), True),
    ("1/size1-plus-@1", 2, 8, "n00", "n30", ("n01", "n11", "n21"), True),
    ("1/size1-sub-@1", 0, 8, "n00", "n30", ("n01", "n11", "n21"), True),
    ("1/size2-div-@2", 1, 4, "n00", "n30", ("n01", "n11", "n21"), True),
    ("1/size2-mul-@2", 1, 16, "n00", "n30", ("n01", "n11", "n21"), True),
    ("1/swapped-roots", 1, 8, "n30", "n00", ("n01", "n11", "n21"), True),
    ("1/trailing-garbage", 1, 8, "n00", "n30", ("n01", "n11", "n21", "nothing"), True),
    ("1/trailing-root1", 1, 8, "n00", "n30", ("n01", "n11", "n21", "n00"), True),
    ("1/trailing-root2", 1, 8, "n00", "n30", ("n01", "n11", "n21", "n30"), True),
    ("1/truncated-proof", 1, 8, "n00", "n30", ("n01", "n11"), True),
    ("1/wrong-root1", 1, 8, "WrongRoot", "n30", ("n01", "n11", "n21"), True),
    ("1/wrong-root2", 1, 8, "n00", "WrongRoot", ("n01", "n11", "n21"), True),
    ("2/empty-proof", 6, 8, "root6", "n30", (), True),
    ("2/happy-path", 6, 8, "root6", "n30", ("n12", "n13", "n20"), False),
    ("2/modified-proof@0-bit-@4", 6, 8, "root6", "n30", ("n12_flipped", "n13", "n20"), True),
    ("2/modified-proof@1-bit-@4", 6, 8, "root6", "n30", ("n12", "n13_flipped", "n20"), True),
    ("2/modified-proof@2-bit-@4", 6, 8, "root6", "n30", ("n12", "n13", "n20_flipped"), True),
    ("2/preceding-garbage", 6, 8, "root6", "n30", ("nothing", "n12", "n13", "n20"), True),
    ("2/preceding-proof-@0", 6, 8, "root6", "n30", ("n12", "n12", "n13", "n20"), True),
    ("2/preceding-root1", 6, 8, "root6", "n30", ("root6", "n12", "n13", "n20"), True),
    ("2/preceding-root2", 6, 8, "root6", "n30", ("n30", "n12", "n13", "n20"), True),
    ("2/size1-XOR-@2", 4, 8, "root6", "n30", ("n12", "n13", "n20"), True),
    ("2/size1-plus-@1", 7, 8, "root6", "n30", ("n12", "n13", "n20"), True),
    ("2/size1-sub-@1", 5, 8, "root6", "n30", ("n12", "n13", "n20"), True),
    ("2/size2-div-@2", 6, 4, "root6", "n30", ("n12", "n13", "n20"), True),
    ("2/size2-mul-@2", 6, 16, "root6", "n30", ("n12", "n13", "n20"), True),
    ("2/swapped-roots", 6, 8, "n30", "root6", ("n12", "n13", "n20"), True),
    ("2/trailing-garbage", 6, 8, "root6", "n30", ("n12", "n13", "n20", "nothing"), True),
    ("2/trailing-root1", 6, 8, "root6", "n30", ("n12", "n13", "n20", "root6"), True),
    ("2/trailing-root2", 6, 8, "root6", "n30", ("n12", "n13", "n20", "n30"), True),
    ("2/truncated-proof", 6, 8, "root6", "n30", ("n12", "n13"), True),
    ("2/wrong-root1", 6, 8, "WrongRoot", "n30", ("n12", "n13", "n20"), True),
    ("2/wrong-root2", 6, 8, "root6", "WrongRoot", ("n12", "n13", "n20"), True),
    ("3/empty-proof", 2, 5, "n10", "root5", (), True),
    ("3/happy-path", 2, 5, "n10", "root5", ("n11", "n04"), False),
    ("3/modified-proof@0-bit-@4", 2, 5, "n10", "root5", ("n11_flipped", "n04"), True),
    ("3/modified-proof@1-bit-@4", 2, 5, "n10", "root5", ("n11", "n04_flipped"), True),
    ("3/preceding-garbage", 2, 5, "n10", "root5", ("nothing", "n11", "n04"), True),
    ("3/preceding-proof-@0", 2, 5, "n10", "root5", ("n11", "n11", "n04"), True),
    ("3/preceding-root1", 2, 5, "n10", "root5", ("n10", "n11", "n04"), True),
    ("3/preceding-root2", 2, 5, "n10", "root5", ("root5", "n11", "n04"), True),
    ("3/size1-XOR-@2", 0, 5, "n10", "root5", ("n11", "n04"), True),
    ("3/size1-plus-@1", 3, 5, "n10", "root5", ("n11", "n04"), True),
    ("3/size1-sub-@1", 1, 5, "n10", "root5", ("n11", "n04"), True),
    ("3/size2-div-@2", 2, 2, "n10", "root5", ("n11", "n04"), True),
    ("3/size2-mul-@2", 2, 10, "n10", "root5", ("n11", "n04"), True),
    ("3/swapped-roots", 2, 5, "root5", "n10", ("n11", "n04"), True),
    ("3/trailing-garbage", 2, 5, "n10", "root5", ("n11", "n04", "nothing"), True),
    ("3/trailing-root1", 2, 5, "n10", "root5", ("n11", "n04", "n10"), True),
    ("3/trailing-root2", 2, 5, "n10", "root5", ("n11", "n04", "root5"), True),
    ("3/truncated-proof", 2, 5, "n10", "root5", ("n11",), True),
    ("3/wrong-root1", 2, 5, "WrongRoot", "root5", ("n11", "n04"), True),
    ("3/wrong-root2", 2, 5, "n10", "WrongRoot", ("n11", "n04"), True),
    ("4/empty-proof", 6, 7, "root6", "root7", (), True),
    ("4/happy-path", 6, 7, "root6", "root7", ("n12", "n06", "n20"), False),
    ("4/modified-proof@0-bit-@4", 6, 7, "root6", "root7", ("n12_flipped", "n06", "n20"), True),
    ("4/modified-proof@1-bit-@4", 6, 7, "root6", "root7", ("n12", "n06_flipped", "n20"), True),
    ("4/modified-proof@2-bit-@4", 6, 7, "root6", "root7", ("n12", "n06", "n20_flipped"), True),
    ("4/preceding-garbage", 6, 7, "root6", "root7", ("nothing", "n12", "n06", "n20"), True),
    ("4/preceding-proof-@0", 6, 7, "root6", "root7", ("n12", "n12", "n06", "n20"), True),
    ("4/preceding-root1", 6, 7, "root6", "root7", ("root6", "n12", "n06", "n20"), True),
    ("4/preceding-root2", 6, 7, "root6", "root7", ("root7", "n12", "n06", "n20"), True),
    ("4/size1-XOR-@2", 4, 7, "root6", "root7", ("n12", "n06", "n20"), True),
    ("4/size1-plus-@1", 7, 7, "root6", "root7", ("n12", "n06", "n20"), True),
    ("4/size1-sub-@1", 5, 7, "root6", "root7", ("n12", "n06", "n20"), True),
    ("4/size2-div-@2", 6, 3, "root6", "root7", ("n12", "n06", "n20"), True),
    ("4/size2-mul-@2", 6, 14, "root6", "root7", ("n12", "n06", "n20"), True),
    ("4/swapped-roots", 6, 7, "root7", "root6", ("n12", "n06", "n20"), True),
    ("4/trailing-garbage", 6, 7, "root6", "root7", ("n12", "n06", "n20", "nothing"), True),
    ("4/trailing-root1", 6, 7, "root6", "root7", ("n12", "n06", "n20", "root6"), True),
    ("4/trailing-root2", 6, 7, "root6", "root7", ("n12", "n06", "n20", "root7"), True),
    ("4/truncated-proof", 6, 7, "root6", "root7", ("n12", "n06"), True),
    ("4/wrong-root1", 6, 7, "WrongRoot", "root7", ("n12", "n06", "n20"), True),
    ("4/wrong-root2", 6, 7, "root6", "WrongRoot", ("n12", "n06", "n20"), True),
    (
        "additional/consistency-check-on-empty-tree-size1-is-zero-is-useless",
        0,
        1,
        "empty_root",
        "empty_root",
        ("empty_root",),
        True,
    ),
    (
        "additional/roots-do-not-match-and-sizes-are-zero",
        0,
        0,
        "empty_root",
        "dont_care2",
        (),
        True,
    ),
    (
        "additional/roots-do-not-not-match-and-sizes-are-one",
        1,
        1,
        "empty_root",
        "dont_care2",
        (),
        True,
    ),
    ("additional/size1-is-greater-than-size2-again", 2, 1, "dont_care1", "dont_care2", (), True),
    ("additional/size1-is-greater-than-size2", 1, 0, "dont_care1", "dont_care2", (), True),
    (
        "additional/size1-is-zero-and-does-not-equal-size2",
        0,
        1,
        "dont_care1",
        "dont_care2",
        (),
        True,
    ),
    ("additional/size1-is-zero-and-size2-is-not-zero", 0, 1, "empty_root", "dont_care2", (), True),
    (
        "additional/sizes-are-equal-one-and-proof-is-empty",
        1,
        1,
        "dont_care2",
        "dont_care2",
        (),
        False,
    ),
    (
        "additional/sizes-are-equal-one-but-roots-are-not",
        1,
        1,
        "dont_care1",
        "dont_care2",
        (),
        True,
    ),
    (
        "additional/sizes-are-equal-zero-and-proof-is-empty",
        0,
        0,
        "dont_care1",
        "dont_care1",
        (),
        True,
    ),
    (
        "additional/sizes-are-equal-zero-but-roots-are-not",
        0,
        0,
        "dont_care1",
        "dont_care2",
        (),
        True,
    ),
    (
        "additional/sizes-do-not-watch-and-proof-is-empty",
        1,
        2,
        "dont_care1",
        "dont_care2",
        (),
        True,
    ),
    (
        "additional/sizes-match-but-proof-is-not-empty-and-sizes-are-one",
        1,
        1,
        "empty_root",
        "empty_root",
        ("empty_root",),
        True,
    ),
    (
        "additional/sizes-match-but-proof-is-not-empty-and-sizes-are-zero",
        0,
        0,
        "empty_root",
        "empty_root",
        ("empty_root",),
        True,
    ),
]

# A proof from a real log: entry 848049 of Google's CT log at size 3630887, from
# google/certificate-transparency python/ct/crypto/merkle_test.py (MerkleVerifierTest).
CT_LEAF_INDEX = 848049
CT_TREE_SIZE = 3630887
CT_LEAF_HASH = hx("7a395c866d5ecdb0cccb623e011dbc392cd348d1d1d72776174e127a24b09c78")
CT_ROOT = hx("78316a05c9bcf14a3a4548f5b854a9adfcd46a4c034401b3ce7eb7ac2f1d0ecb")
CT_AUDIT_PATH = [
    hx(h)
    for h in (
        "1a208aeebcd1b39fe2de247ee8db9454e1e93a312d206b87f6ca9cc6ec6f1ddd",
        "0a1b78b383f580856f433c01a5741e160d451c185910027f6cc9f828687a40c4",
        "3d1745789bc63f2da15850de1c12a5bf46ed81e1cc90f086148b1662e79aab3d",
        "9095b61e14d8990acf390905621e62b1714fb8e399fbb71de5510e0aef45affe",
        "0a332b91b8fab564e6afd1dd452449e04619b18accc0ff9aa8393cd4928451f2",
        "2336f0181d264aed6d8f3a6507ca14a8d3b3c3a23791ac263e845d208c1ee330",
        "b4ce56e300590500360c146c6452edbede25d4ed83919278749ee5dbe178e048",
        "933f6ddc848ea562e4f9c5cfb5f176941301dad0c6fdb9d1fbbe34fac1be6966",
        "b95a6222958a86f74c030be27c44f57dbe313e5e7c7f4ffb98bcbd3a03bb52f2",
        "daeeb3ce5923defd0faeb8e0c210b753b85b809445d7d3d3cd537a9aabaa9c45",
        "7fadd0a13e9138a2aa6c3fdec4e2275af233b94812784f66bcca9aa8e989f2bc",
        "1864e6ba3e32878610546539734fb5eeae2529991f130c575c73a7e25a2a7c56",
        "12842d1202b1dc6828a17ab253c02e7ce9409b5192430feba44189f39cc02d66",
        "29af64b16fa3053c13d02ac63aa75b23aa468506e44c3a2315edc85d2dc22b11",
        "b527b99934a0bd9edd154e449b0502e2c499bba783f3bc3dfe23364b6b532009",
        "4584db8ae8e351ace08e01f306378a92bfd43611714814f3d834a2842d69faa8",
        "86a9a41573b0d6e4292f01e93243d6cc65b30f06606fc6fa57390e7e90ed580f",
        "a88b98fbe84d4c6aae8db9d1605dfac059d9f03fe0fcb0d5dff1295dacba09e6",
        "06326dc617a6d1f7021dc536026dbfd5fffc6f7c5531d48ef6ccd1ed1569f2a1",
        "f41fe8fdc3a2e4e8345e30216e7ebecffee26ff266eeced208a6c2a3cf08f960",
        "40cf5bde8abb76983f3e98ba97aa36240402975674e120f234b3448911090f8d",
        "b3222dc8658538079883d980d7fdc2bef9285344ea34338968f736b04aeb387a",
    )
]


def published_tree() -> tree.MemoryStore:
    store = tree.MemoryStore()
    store.add([tree.leaf_hash(entry) for entry in LEAF_INPUTS])
    return store


def named(names: Sequence[str]) -> list[bytes]:
    return [HASHES[name] for name in names]


def test_leaf_and_node_hashes_are_the_published_ones():
    assert tree.HASH_SIZE == 32
    assert tree.EMPTY_ROOT == ROOTS[0]
    assert [tree.leaf_hash(entry) for entry in LEAF_INPUTS] == NODE_HASHES[0]
    for level in range(1, len(NODE_HASHES)):
        below = NODE_HASHES[level - 1]
        assert [tree.node_hash(below[2 * i], below[2 * i + 1]) for i in range(len(below) // 2)] == (
            NODE_HASHES[level]
        )
    # google/certificate-transparency python/ct/crypto/merkle_test.py (TreeHasherTest).
    assert tree.leaf_hash(hx("101112131415161718191a1b1c1d1e1f")) == hx(
        "3bfb960453ebaebf33727da7a1f4db38acc051d381b6da20d6d4e88f0eabfd7a"
    )
    assert tree.node_hash(
        hx("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
        hx("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"),
    ) == hx("1a378704c17da31e2d05b6d121c2bb2c7d76f6ee6fa8f983e596c2d034963c57")


def test_roots_are_the_published_ones_while_growing_and_afterwards():
    store = tree.MemoryStore()
    assert tree.root(0, store.read) == ROOTS[0]
    for size, entry in enumerate(LEAF_INPUTS, start=1):
        store.add([tree.leaf_hash(entry)])
        assert store.size == size
        assert tree.root(size, store.read) == ROOTS[size]
    # A grown tree still answers for every size it had: that is what old checkpoints name.
    assert [tree.root(size, store.read) for size in range(9)] == ROOTS


def test_the_stored_hashes_are_the_published_subtree_hashes_in_gos_order():
    store = published_tree()
    assert len(store.hashes) == tree.stored_count(8) == 15
    assert [tree.stored_index(level, i) for level, i in GO_STORED_ORDER_8] == list(range(15))
    assert store.hashes == [NODE_HASHES[level][i] for level, i in GO_STORED_ORDER_8]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_PROOFS)
def test_published_inclusion_proofs(index: int, size: int, proof: list[str]):
    store = published_tree()
    assert tree.inclusion_proof(index, size, store.read) == named(proof)
    tree.verify_inclusion(index, size, NODE_HASHES[0][index], named(proof), ROOTS[size])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_PROOFS)
def test_published_consistency_proofs(old: int, new: int, proof: list[str]):
    store = published_tree()
    assert tree.consistency_proof(old, new, store.read) == named(proof)
    tree.verify_consistency(old, new, ROOTS[old], ROOTS[new], named(proof))


def verifies(check: Callable[[], None], must_fail: bool, values: Sequence[bytes]) -> None:
    """A probe that must fail raises ProofError. One that must pass passes, unless it passes
    Go only because Go compares a non-hash "root" byte for byte: a verifier may refuse a value
    that is no SHA-256 hash, but only with ProofError."""
    if must_fail:
        with pytest.raises(ProofError):
            check()
    elif all(len(value) == tree.HASH_SIZE for value in values):
        check()
    else:
        try:
            check()
        except ProofError:
            pass


@pytest.mark.parametrize(
    ("index", "size", "leaf", "proof", "root", "must_fail"),
    [probe[1:] for probe in INCLUSION_PROBES],
    ids=[probe[0] for probe in INCLUSION_PROBES],
)
def test_published_inclusion_probes(
    index: int, size: int, leaf: str, proof: tuple[str, ...], root: str, must_fail: bool
):
    values = [HASHES[leaf], *named(proof), HASHES[root]]
    verifies(
        lambda: tree.verify_inclusion(index, size, HASHES[leaf], named(proof), HASHES[root]),
        must_fail,
        values,
    )


@pytest.mark.parametrize(
    ("old", "new", "old_root", "new_root", "proof", "must_fail"),
    [probe[1:] for probe in CONSISTENCY_PROBES],
    ids=[probe[0] for probe in CONSISTENCY_PROBES],
)
def test_published_consistency_probes(
    old: int, new: int, old_root: str, new_root: str, proof: tuple[str, ...], must_fail: bool
):
    values = [HASHES[old_root], HASHES[new_root], *named(proof)]
    verifies(
        lambda: tree.verify_consistency(old, new, HASHES[old_root], HASHES[new_root], named(proof)),
        must_fail,
        values,
    )


def test_a_real_certificate_transparency_proof():
    tree.verify_inclusion(CT_LEAF_INDEX, CT_TREE_SIZE, CT_LEAF_HASH, CT_AUDIT_PATH, CT_ROOT)
    refused = [
        # Against another root (test_verify_leaf_inclusion_bad_proof).
        (CT_LEAF_INDEX, CT_TREE_SIZE, CT_LEAF_HASH, CT_AUDIT_PATH, bytes(32)),
        # An index beyond what the path can reach (test_calculate_root_too_short_proof).
        (
            CT_LEAF_INDEX + 2 ** (len(CT_AUDIT_PATH) + 1),
            CT_TREE_SIZE,
            CT_LEAF_HASH,
            CT_AUDIT_PATH,
            CT_ROOT,
        ),
        # Too long, too short for a tree of 4 (test_verify_leaf_inclusion_incorrect_length_proof).
        (0, 4, tree.leaf_hash(b"\x11" * 32), [bytes(32)] * 3, bytes(32)),
        (0, 4, tree.leaf_hash(b"\x11" * 32), [bytes(32)], bytes(32)),
        # Neighbours and other sizes with the same path.
        (CT_LEAF_INDEX + 1, CT_TREE_SIZE, CT_LEAF_HASH, CT_AUDIT_PATH, CT_ROOT),
        (CT_LEAF_INDEX - 1, CT_TREE_SIZE, CT_LEAF_HASH, CT_AUDIT_PATH, CT_ROOT),
        (CT_LEAF_INDEX, CT_TREE_SIZE, CT_LEAF_HASH, CT_AUDIT_PATH[:-1], CT_ROOT),
        (CT_LEAF_INDEX, CT_TREE_SIZE * 2, CT_LEAF_HASH, CT_AUDIT_PATH, CT_ROOT),
    ]
    for index, size, leaf, path, root in refused:
        with pytest.raises(ProofError):
            tree.verify_inclusion(index, size, leaf, path, root)


def test_published_consistency_refusals():
    """google/certificate-transparency python/ct/crypto/merkle_test.py (MerkleVerifierTest).
    Where it accepts what transparency-dev/merkle refuses (from an empty tree with any proof,
    equal sizes with a non-empty proof) the newer Go library is followed, in the probes above."""
    r6, r8 = ROOTS[6], ROOTS[8]
    flipped_r6 = r6[:-1] + bytes([r6[-1] ^ 1])
    flipped_r8 = r8[:-1] + bytes([r8[-1] ^ 1])
    proof_6_8 = named(["n12", "n13", "n20"])
    refused = [
        (5, 2, ROOTS[5], ROOTS[2], named(["n11", "n04"])),
        (6, 8, r6, r8, proof_6_8[:2]),
        (6, 8, r6, flipped_r8, proof_6_8),
        (6, 8, flipped_r6, flipped_r8, proof_6_8),
        (6, 8, flipped_r6, r8, proof_6_8),
        (3, 3, ROOTS[1][:-1] + b"\x1e", ROOTS[1], []),
    ]
    for old, new, old_root, new_root, proof in refused:
        with pytest.raises(ProofError):
            tree.verify_consistency(old, new, old_root, new_root, proof)


# --- 2. pymerkle, an independent implementation -------------------------------------------
#
# pymerkle counts leaves from 1 and carries the leaf's own hash as the first element of an
# inclusion path; the rest is RFC 9162's audit path. Its consistency proofs are of another
# form (the new leaf at old_size with its audit path, and a mask of the hashes that fold into
# the old root), which no RFC 9162 verifier reads: consistency proofs are therefore checked
# against RFC 9162 section 2.1.4.1 read literally, over pymerkle's hashing.

SMALL = 70
LARGE = 3000


def entry(n: int) -> bytes:
    # Distinct entries of varied length, the empty one first: a proof for one entry must never
    # be a proof for another.
    return (b"audit event %d;" % n) * (1 + n % 4) if n else b""


@cache
def pymerkle_tree(size: int) -> pymerkle.InmemoryTree:
    theirs = pymerkle.InmemoryTree(algorithm="sha256")
    for n in range(size):
        theirs.append_entry(entry(n))
    return theirs


@cache
def our_store(size: int) -> tree.MemoryStore:
    store = tree.MemoryStore()
    store.add([tree.leaf_hash(entry(n)) for n in range(size)])
    return store


@cache
def their_leaf(n: int) -> bytes:
    return THEIRS.hash_buff(entry(n))


@cache
def mth(start: int, end: int) -> bytes:
    """MTH(D[start:end]) of RFC 9162 section 2.1.1, hashed by pymerkle."""
    if end - start == 1:
        return their_leaf(start)
    k = split(end - start)
    return THEIRS.hash_pair(mth(start, start + k), mth(start + k, end))


def split(n: int) -> int:
    """The largest power of two smaller than n, where RFC 9162 splits a tree of n > 1 leaves."""
    k = 1
    while 2 * k < n:
        k *= 2
    return k


def rfc_consistency_proof(old: int, new: int) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 section 2.1.4.1."""

    def subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
        if m == end - start:
            return [] if whole else [mth(start, end)]
        k = split(end - start)
        if m <= k:
            return [*subproof(m, start, start + k, whole), mth(start + k, end)]
        return [*subproof(m - k, start + k, end, False), mth(start, start + k)]

    return subproof(old, 0, new, True)


def check_inclusion_against_pymerkle(index: int, size: int) -> None:
    theirs = pymerkle_tree(LARGE if size > SMALL else SMALL)
    store = our_store(LARGE if size > SMALL else SMALL)
    leaf = tree.leaf_hash(entry(index))
    root = theirs.get_root(size)
    ours = tree.inclusion_proof(index, size, store.read)
    their_proof = theirs.prove_inclusion(index + 1, size)
    assert their_proof.path[0] == leaf
    assert their_proof.path[1:] == ours
    # pymerkle's verifier accepts our path (with its own layout bits, which depend on the
    # index and size alone), and ours accepts pymerkle's.
    mine_for_them = pymerkle.InclusionProof(
        "sha256", True, size, index + 1, their_proof.rule, [leaf, *ours]
    )
    pymerkle.verify_inclusion(leaf, root, mine_for_them, index=index + 1, size=size)
    tree.verify_inclusion(index, size, leaf, their_proof.path[1:], root)


def check_consistency_against_rfc(old: int, new: int) -> None:
    store = our_store(LARGE if new > SMALL else SMALL)
    ours = tree.consistency_proof(old, new, store.read)
    assert ours == rfc_consistency_proof(old, new)
    tree.verify_consistency(old, new, mth(0, old), mth(0, new), ours)


def test_roots_agree_with_pymerkle():
    theirs, store = pymerkle_tree(LARGE), our_store(LARGE)
    for size in [*range(SMALL + 1), 127, 128, 129, 1000, 2047, 2048, 2049, LARGE]:
        assert tree.root(size, store.read) == theirs.get_root(size), size
        if size:
            assert mth(0, size) == theirs.get_root(size), size


def test_inclusion_proofs_agree_with_pymerkle_for_every_tree_up_to_70():
    for size in range(1, SMALL + 1):
        for index in range(size):
            check_inclusion_against_pymerkle(index, size)


def test_consistency_proofs_are_rfc_9162s_for_every_pair_of_sizes_up_to_70():
    for new in range(1, SMALL + 1):
        for old in range(1, new + 1):
            check_consistency_against_rfc(old, new)


@PROPERTY
@given(st.data())
def test_inclusion_proofs_agree_with_pymerkle_for_larger_trees(data: st.DataObject):
    size = data.draw(st.integers(SMALL + 1, LARGE), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    check_inclusion_against_pymerkle(index, size)


@PROPERTY
@given(st.data())
def test_consistency_proofs_are_rfc_9162s_for_larger_trees(data: st.DataObject):
    new = data.draw(st.integers(SMALL + 1, LARGE), label="new size")
    old = data.draw(st.integers(1, new), label="old size")
    check_consistency_against_rfc(old, new)


def test_pymerkle_consistency_proofs_agree_with_our_roots():
    # pymerkle's own consistency check, between the roots our tree gives.
    theirs, store = pymerkle_tree(SMALL), our_store(SMALL)
    for new in range(1, SMALL + 1):
        for old in range(1, new + 1):
            proof = theirs.prove_consistency(old, new)
            pymerkle.verify_consistency(
                tree.root(old, store.read),
                tree.root(new, store.read),
                proof,
                prior_size=old,
                later_size=new,
            )


# --- 3. Properties ------------------------------------------------------------------------

TAMPER_SIZE = 600


def root_of(size: int) -> bytes:
    return tree.root(size, our_store(LARGE).read)


def flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def tampered_proofs(data: st.DataObject, proof: list[bytes]) -> list[bytes]:
    """The proof with one hash flipped, dropped, shortened, added or repeated."""
    kinds = ["add", "repeat"] if not proof else ["flip", "drop", "shorten", "add", "repeat"]
    kind = data.draw(st.sampled_from(kinds), label="change to the proof")
    out = list(proof)
    if kind == "flip":
        at = data.draw(st.integers(0, len(out) - 1), label="at")
        out[at] = flip(out[at], data.draw(st.integers(0, 8 * tree.HASH_SIZE - 1), label="bit"))
    elif kind == "drop":
        del out[data.draw(st.integers(0, len(out) - 1), label="at")]
    elif kind == "shorten":
        at = data.draw(st.integers(0, len(out) - 1), label="at")
        out[at] = out[at][:-1]
    elif kind == "add":
        extra = data.draw(st.binary(min_size=32, max_size=32), label="extra hash")
        out.insert(data.draw(st.integers(0, len(out)), label="at"), extra)
    else:
        at = data.draw(st.integers(0, len(out) - 1), label="at") if out else 0
        out.insert(at, out[at] if out else root_of(1))
    return out


@PROPERTY
@given(st.data())
def test_every_tampered_inclusion_proof_is_refused(data: st.DataObject):
    store = our_store(LARGE)
    size = data.draw(st.integers(1, TAMPER_SIZE), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, root = tree.leaf_hash(entry(index)), root_of(size)
    proof = tree.inclusion_proof(index, size, store.read)
    tree.verify_inclusion(index, size, leaf, proof, root)

    kind = data.draw(
        st.sampled_from(["proof", "index", "size", "leaf", "proof of another", "root"]),
        label="what is wrong",
    )
    claim = [index, size, leaf, proof, root]
    if kind == "proof":
        claim[3] = tampered_proofs(data, proof)
    elif kind == "index":
        claim[0] = data.draw(st.integers(-1, size + 1).filter(lambda i: i != index), label="i")
    elif kind == "size":
        # Another size with its own root, as another checkpoint would give it.
        other = data.draw(st.integers(1, TAMPER_SIZE).filter(lambda s: s != size), label="s")
        claim[1], claim[4] = other, root_of(other)
    elif kind in ("leaf", "proof of another"):
        assume(size > 1)
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="other")
        if kind == "leaf":
            claim[2] = tree.leaf_hash(entry(other))
        else:
            claim[3] = tree.inclusion_proof(other, size, store.read)
    else:
        other = data.draw(st.integers(0, TAMPER_SIZE).filter(lambda s: s != size), label="s")
        claim[4] = root_of(other)
    with pytest.raises(ProofError):
        tree.verify_inclusion(*claim)


@PROPERTY
@given(st.data())
def test_every_tampered_consistency_proof_is_refused(data: st.DataObject):
    store = our_store(LARGE)
    new = data.draw(st.integers(1, TAMPER_SIZE), label="new size")
    old = data.draw(st.integers(1, new), label="old size")
    proof = tree.consistency_proof(old, new, store.read)
    tree.verify_consistency(old, new, root_of(old), root_of(new), proof)

    kinds = ["proof", "old size", "new size", "old root", "new root"]
    kind = data.draw(st.sampled_from(kinds + ["swapped"] if old != new else kinds), label="wrong")
    claim = [old, new, root_of(old), root_of(new), proof]
    if kind == "proof":
        claim[4] = tampered_proofs(data, proof)
    elif kind == "old size":
        # Not 0: every tree extends the empty one, so that claim may be true (RFC 9162 leaves
        # it undefined; see test_from_the_empty_tree_the_generator_and_the_verifier_agree).
        other = data.draw(st.integers(1, TAMPER_SIZE).filter(lambda s: s != old), label="s")
        claim[0], claim[2] = other, root_of(other)
    elif kind == "new size":
        other = data.draw(st.integers(0, TAMPER_SIZE).filter(lambda s: s != new), label="s")
        claim[1], claim[3] = other, root_of(other)
    elif kind in ("old root", "new root"):
        at = 2 if kind == "old root" else 3
        other = data.draw(
            st.integers(0, TAMPER_SIZE).filter(lambda s: root_of(s) != claim[at]), label="s"
        )
        claim[at] = root_of(other)
    else:
        claim[2], claim[3] = claim[3], claim[2]
    with pytest.raises(ProofError):
        tree.verify_consistency(*claim)


def test_proofs_that_cannot_exist_are_refused():
    store = our_store(SMALL)
    for index, size in [(0, 0), (5, 5), (6, 5), (-1, 5)]:
        with pytest.raises(ProofError):
            tree.inclusion_proof(index, size, store.read)
    for old, new in [(6, 5), (-1, 5)]:
        with pytest.raises(ProofError):
            tree.consistency_proof(old, new, store.read)


def test_from_the_empty_tree_the_generator_and_the_verifier_agree():
    # RFC 9162 defines consistency proofs for 0 < old < new only; Go refuses old = 0 and CT's
    # Python accepts it. Whichever tree.py chooses, what it makes it must accept.
    store = our_store(SMALL)
    for new in (0, 1, 2, 7, SMALL):
        try:
            proof = tree.consistency_proof(0, new, store.read)
        except ProofError:
            continue
        tree.verify_consistency(0, new, tree.EMPTY_ROOT, tree.root(new, store.read), proof)


# The stored-hash numbering, checked against Go's (golang.org/x/mod/sumdb/tlog) definition:
# leaf j's hash is stored at j + j/2 + j/4 + ..., each followed by the hashes of the subtrees
# that leaf completes, from the lowest level up.


def leaf_position(j: int) -> int:
    total = 0
    while j:
        total += j
        j >>= 1
    return total


def split_stored_index(position: int) -> tuple[int, int]:
    """The (level, index) whose hash is stored at this position."""
    low, high = 0, position  # a leaf is stored no earlier than its own index
    while low < high:
        middle = (low + high + 1) // 2
        if leaf_position(middle) <= position:
            low = middle
        else:
            high = middle - 1
    level = position - leaf_position(low)
    assert (low + 1) % (1 << level) == 0, f"{position} is no stored position"
    return level, low >> level


def test_stored_index_and_count_number_every_subtree_once_without_gaps():
    order: list[tuple[int, int]] = []
    assert tree.stored_count(0) == 0
    for size in range(1, 2049):
        last = size - 1
        order.append((0, last))
        level = 1
        while size % (1 << level) == 0:
            order.append((level, (size >> level) - 1))
            level += 1
        assert tree.stored_count(size) == len(order) == 2 * size - size.bit_count(), size
    assert [tree.stored_index(level, i) for level, i in order] == list(range(len(order)))
    assert [split_stored_index(position) for position in range(len(order))] == order


@PROPERTY
@given(st.integers(0, 40), st.integers(0, 2**40))
def test_stored_index_is_gos_for_large_trees(level: int, index: int):
    last_leaf = ((index + 1) << level) - 1
    position = tree.stored_index(level, index)
    assert position == leaf_position(last_leaf) + level
    assert split_stored_index(position) == (level, index)
    # The subtree is the last hash stored when its last leaf arrives, if it is the largest
    # subtree that leaf completes.
    size = last_leaf + 1
    if (size >> level) & 1:
        assert tree.stored_count(size) == position + 1


@PROPERTY
@given(st.lists(st.binary(max_size=24), max_size=300), st.data())
def test_appending_in_batches_stores_what_one_batch_stores(
    entries: list[bytes], data: st.DataObject
):
    leaves = [tree.leaf_hash(e) for e in entries]
    whole = tree.MemoryStore()
    assert whole.add(leaves) == whole.hashes
    assert len(whole.hashes) == tree.stored_count(len(leaves))

    cuts = sorted(data.draw(st.lists(st.integers(0, len(leaves)), max_size=12), label="cuts"))
    hashes: list[bytes] = []
    done = 0
    for cut in [*cuts, len(leaves)]:
        # append itself, with a reader that refuses what is not stored yet.
        def read(indexes: Sequence[int], known: int = len(hashes)) -> list[bytes]:
            assert all(0 <= i < known for i in indexes), (indexes, known)
            return [hashes[i] for i in indexes]

        made = tree.append(done, leaves[done:cut], read)
        assert len(made) == tree.stored_count(cut) - tree.stored_count(done)
        hashes.extend(made)
        done = cut
    assert hashes == whole.hashes

    # Every stored hash is the hash of its subtree, as RFC 9162 (hashed by pymerkle) has it.
    for position, stored in enumerate(hashes):
        level, index = split_stored_index(position)
        span = entries[index << level : (index + 1) << level]
        assert stored == subtree_hash(span), (level, index)


def subtree_hash(span: Sequence[bytes]) -> bytes:
    if len(span) == 1:
        return THEIRS.hash_buff(span[0])
    k = split(len(span))
    return THEIRS.hash_pair(subtree_hash(span[:k]), subtree_hash(span[k:]))


# Reading: a proof may cost O(log n) stored hashes, read from a table by index. A tree of up to
# 2**20 leaves is made up, not stored: its leaves repeat every 2**8, so each subtree's hash is
# computed (by pymerkle's hashing) from its level and its index's low bits alone.

PERIOD = 8
HUGE = 2**20


@cache
def periodic_subtree(level: int, index: int) -> bytes:
    if level >= PERIOD:
        index = 0
    else:
        index %= 1 << (PERIOD - level)
    if level == 0:
        return THEIRS.hash_buff(b"entry %d" % index)
    return THEIRS.hash_pair(
        periodic_subtree(level - 1, 2 * index), periodic_subtree(level - 1, 2 * index + 1)
    )


def periodic_root(size: int) -> bytes:
    """The root of the made-up tree, from its complete subtrees (largest first)."""
    edge, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            edge.append(periodic_subtree(level, start >> level))
            start += 1 << level
    return THEIRS.hash_fold(edge[::-1]) if edge else THEIRS.hash_empty()


class CountingReader:
    """Reads the made-up tree of `size` leaves, counting what it reads and refusing any index
    that a tree of that size does not have."""

    def __init__(self, size: int) -> None:
        self.limit = tree.stored_count(size)
        self.read = 0

    def __call__(self, indexes: Sequence[int]) -> list[bytes]:
        assert all(0 <= i < self.limit for i in indexes), (indexes, self.limit)
        self.read += len(indexes)
        return [periodic_subtree(*split_stored_index(i)) for i in indexes]


def most_reads(size: int) -> int:
    return 2 * (size - 1).bit_length() + 2


def check_reads(index: int, size: int, old: int) -> None:
    reader = CountingReader(size)
    root = tree.root(size, reader)
    assert root == periodic_root(size)
    assert reader.read <= size.bit_length()

    reader = CountingReader(size)
    proof = tree.inclusion_proof(index, size, reader)
    assert reader.read <= most_reads(size), (index, size, reader.read)
    tree.verify_inclusion(index, size, periodic_subtree(0, index), proof, root)

    reader = CountingReader(size)
    proof = tree.consistency_proof(old, size, reader)
    assert reader.read <= most_reads(size), (old, size, reader.read)
    tree.verify_consistency(old, size, periodic_root(old), root, proof)

    # Appending a leaf reads at most the tree's right edge.
    reader = CountingReader(size)
    made = tree.append(size, [periodic_subtree(0, size)], reader)
    assert reader.read <= size.bit_length()
    assert len(made) == tree.stored_count(size + 1) - tree.stored_count(size)


@pytest.mark.parametrize(
    ("index", "size", "old"),
    [
        (0, HUGE, 1),
        (HUGE - 1, HUGE, HUGE - 1),
        (HUGE // 2, HUGE - 1, HUGE // 2 + 1),
        (HUGE - 2, HUGE - 1, 3),
        (12345, HUGE // 2 + 1, HUGE // 2),
        (HUGE // 2, HUGE // 2 + 1, HUGE // 2 + 1),
        (987_000, 987_654, 654_321),
        (0, 1, 1),
        (1, 3, 2),
    ],
)
def test_proofs_read_logarithmically_many_hashes(index: int, size: int, old: int):
    check_reads(index, size, old)


@PROPERTY
@given(st.data())
def test_proofs_read_logarithmically_many_hashes_for_any_size(data: st.DataObject):
    size = data.draw(st.integers(1, HUGE), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(1, size), label="old size")
    check_reads(index, size, old)
