"""Offline check of an Ethereum anchor: does this raw transaction anchor that checkpoint?

Given the raw signed transaction bytes (from any node's eth_getRawTransactionByHash or a
block explorer), the checkpoint note and the ledger's verifier key, the auditor learns,
without any Ethereum library or network:

- the transaction decodes (EIP-2718 type 0x02, or legacy with or without EIP-155) and its
  signature is well formed; its hash (keccak-256 of the bytes) and the sender recovered from
  the signature, to compare with the chain and with the ledger's published anchoring account;
- its calldata is a sequestra anchor payload naming origin, tree size and root;
- the checkpoint note is signed by the ledger key and names the same origin, size and root.

The raw bytes alone do not show that the transaction was mined: look its hash up on a node
or explorer you trust (or pass `expected_tx_hash` from one). Only the standard library and
`cryptography` are used; RLP, keccak-256 and secp256k1 recovery are written out below.
"""

from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass, replace
from typing import Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from sequestra.errors import IntegrityFailure
from sequestra.ledger.anchor_payload import AnchorPayloadError, parse_anchor_payload
from sequestra.ledger.checkpoint import Checkpoint, CheckpointError
from sequestra.ledger.note import (
    SIGNATURE_TYPE_ED25519,
    Ed25519Verifier,
    KeyFormatError,
    NoteError,
    open_note,
    parse_verifier_key,
)

RAW_TRANSACTION_BYTES_MAX = 128 * 1024  # geth's txpool refuses transactions above this
RLP_DEPTH_MAX = 8
TX_TYPE_LEGACY = 0
TX_TYPE_EIP1559 = 2

RlpItem = Union[bytes, list["RlpItem"]]  # noqa: UP007 (a recursive alias needs Union here)


class AnchorCheckError(IntegrityFailure):
    """Evidence is malformed or inconsistent; the message says what and why."""


@dataclass(frozen=True)
class AnchorVerdict:
    """The outcome of an offline anchor check; `reason` says why when `ok` is False.

    The transaction fields are filled as far as decoding got, so a rejected verdict still
    names the transaction it is about.
    """

    ok: bool
    reason: str | None = None
    tx_hash: str | None = None  # 0x + keccak-256 of the raw bytes, lowercase hex
    tx_type: int | None = None
    chain_id: int | None = None  # None for a pre-EIP-155 legacy transaction
    sender: str | None = None  # 0x + 40 lowercase hex, recovered from the signature
    to: str | None = None
    origin: str | None = None
    size: int | None = None
    root_hash: bytes | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "reason": self.reason,
            "tx_hash": self.tx_hash,
            "tx_type": self.tx_type,
            "chain_id": self.chain_id,
            "sender": self.sender,
            "to": self.to,
            "origin": self.origin,
            "size": self.size,
            "root": None if self.root_hash is None else self.root_hash.hex(),
        }


@dataclass(frozen=True)
class EthereumTransaction:
    """The fields of a signed transaction that an anchor check needs."""

    tx_type: int
    chain_id: int | None
    nonce: int
    to: bytes
    value_wei: int
    data: bytes
    tx_hash: bytes
    sender: bytes


def check_ethereum_anchor(
    raw_tx: bytes,
    checkpoint_note: bytes,
    ledger_vkey: str,
    *,
    expected_tx_hash: str | None = None,
    expected_sender: str | None = None,
    expected_chain_id: int | None = None,
) -> AnchorVerdict:
    """Check that `raw_tx` anchors the checkpoint in `checkpoint_note` signed by the ledger.

    `raw_tx` is the raw signed transaction, or its hex text as read from a file (the two
    cannot be confused: a raw transaction starts with 0x02 or a byte >= 0xc0, hex text with a
    printable character). The optional expectations pin the transaction hash found on
    the chain, the ledger's anchoring account and the chain ID. Returns a verdict; every
    problem with the evidence is a rejection with a reason. Raises KeyFormatError when
    `ledger_vkey` is not an Ed25519 verifier key string.
    """
    verifier = _ledger_verifier(ledger_vkey)
    try:
        if raw_tx[:1].isascii() and raw_tx[:1] >= b" ":
            raw_tx = parse_raw_transaction_hex(raw_tx)
        transaction = decode_ethereum_transaction(raw_tx)
    except AnchorCheckError as error:
        return AnchorVerdict(False, f"transaction: {error}")
    verdict = _facts(transaction)
    reason = _expectations(transaction, expected_tx_hash, expected_sender, expected_chain_id)
    if reason is not None:
        return replace(verdict, reason=reason)
    return _check_payload(verdict, transaction.data, "calldata", checkpoint_note, verifier)


def parse_raw_transaction_hex(text: bytes | str) -> bytes:
    """Parse a raw transaction written as hex (0x prefix and surrounding space allowed).

    Raises AnchorCheckError for anything but an even number of hex digits.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError as error:
            raise AnchorCheckError("raw transaction: expected hex text") from error
    stripped = text.strip()
    digits = stripped[2:] if stripped[:2] in ("0x", "0X") else stripped
    if len(digits) > 2 * RAW_TRANSACTION_BYTES_MAX:
        raise AnchorCheckError(f"raw transaction: larger than {RAW_TRANSACTION_BYTES_MAX} bytes")
    try:
        return binascii.unhexlify(digits)
    except (binascii.Error, ValueError) as error:
        raise AnchorCheckError("raw transaction: expected an even number of hex digits") from error


def decode_ethereum_transaction(raw: bytes) -> EthereumTransaction:
    """Decode a signed type-2 (EIP-1559) or legacy transaction and recover its sender.

    Raises AnchorCheckError for malformed or non-canonical RLP, another transaction type, a
    contract creation, or a signature that is out of range or recovers no key.
    """
    if not isinstance(raw, bytes | bytearray) or not raw:
        raise AnchorCheckError("expected the raw transaction bytes")
    raw = bytes(raw)
    if len(raw) > RAW_TRANSACTION_BYTES_MAX:
        raise AnchorCheckError(f"larger than {RAW_TRANSACTION_BYTES_MAX} bytes")
    if raw[0] == TX_TYPE_EIP1559:
        return _decode_eip1559(raw)
    if raw[0] >= 0xC0:
        return _decode_legacy(raw)
    if raw[0] <= 0x7F:
        raise AnchorCheckError(f"expected transaction type 0x02 or legacy, got 0x{raw[0]:02x}")
    raise AnchorCheckError(f"expected a typed transaction or an RLP list, got 0x{raw[0]:02x}")


# --- the checks ----------------------------------------------------------------------------


def _ledger_verifier(ledger_vkey: str) -> Ed25519Verifier:
    key = parse_verifier_key(ledger_vkey)
    if key.signature_type != SIGNATURE_TYPE_ED25519:
        raise KeyFormatError(
            f"ledger key: expected an Ed25519 (type 0x01) key, got {key.signature_type:#04x}"
        )
    return Ed25519Verifier(key.name, key.public_key)


def _facts(transaction: EthereumTransaction) -> AnchorVerdict:
    """A rejecting verdict that names the transaction; the checks fill in the rest."""
    return AnchorVerdict(
        ok=False,
        tx_hash="0x" + transaction.tx_hash.hex(),
        tx_type=transaction.tx_type,
        chain_id=transaction.chain_id,
        sender="0x" + transaction.sender.hex(),
        to="0x" + transaction.to.hex(),
    )


def _expectations(
    transaction: EthereumTransaction,
    tx_hash: str | None,
    sender: str | None,
    chain_id: int | None,
) -> str | None:
    actual_hash = "0x" + transaction.tx_hash.hex()
    if tx_hash is not None and _normal_hex(tx_hash) != actual_hash:
        return f"tx hash: expected {_normal_hex(tx_hash)}, the bytes hash to {actual_hash}"
    actual_sender = "0x" + transaction.sender.hex()
    if sender is not None and _normal_hex(sender) != actual_sender:
        return f"sender: expected {_normal_hex(sender)}, the signature recovers {actual_sender}"
    if chain_id is not None and transaction.chain_id != chain_id:
        return f"chain ID: expected {chain_id}, the transaction is for {transaction.chain_id}"
    return None


def _compare(origin: str, size: int, root: bytes, checkpoint: Checkpoint) -> str | None:
    if origin != checkpoint.origin:
        return f"origin: the checkpoint names {checkpoint.origin!r}, the anchor {origin!r}"
    if size != checkpoint.size:
        return f"size: the checkpoint names {checkpoint.size}, the anchor {size}"
    if root != checkpoint.root_hash:
        return f"root: the checkpoint names {checkpoint.root_hash.hex()}, the anchor {root.hex()}"
    return None


def _normal_hex(text: str) -> str:
    lowered = text.strip().lower()
    return lowered if lowered.startswith("0x") else "0x" + lowered


# --- transactions --------------------------------------------------------------------------


def _decode_eip1559(raw: bytes) -> EthereumTransaction:
    """[chain_id, nonce, tip, max_fee, gas, to, value, data, access_list, y_parity, r, s]."""
    fields = _rlp_list(rlp_decode(raw[1:]), 12, "type-2 transaction")
    (chain_id, nonce, _tip, _max_fee, _gas, to, value, data, access_list) = fields[:9]
    if not isinstance(access_list, list):
        raise AnchorCheckError("type-2 transaction: the access list must be an RLP list")
    parity = _scalar(fields[9], "y parity")
    if parity > 1:
        raise AnchorCheckError(f"y parity: expected 0 or 1, got {parity}")
    digest = keccak256(bytes([TX_TYPE_EIP1559]) + rlp_encode(fields[:9]))
    sender = _recover_sender(digest, _scalar(fields[10], "r"), _scalar(fields[11], "s"), parity)
    return EthereumTransaction(
        TX_TYPE_EIP1559,
        _scalar(chain_id, "chain ID"),
        _scalar(nonce, "nonce"),
        _address(to),
        _scalar(value, "value"),
        _string(data, "data"),
        keccak256(raw),
        sender,
    )


def _decode_legacy(raw: bytes) -> EthereumTransaction:
    """[nonce, gas_price, gas, to, value, data, v, r, s]; v = 27/28 or chain_id*2 + 35/36."""
    fields = _rlp_list(rlp_decode(raw), 9, "legacy transaction")
    v = _scalar(fields[6], "v")
    unsigned = list(fields[:6])
    chain_id: int | None
    if v in (27, 28):
        chain_id, parity = None, v - 27
    elif v >= 37:
        chain_id, parity = (v - 35) // 2, (v - 35) % 2
        unsigned += [_minimal_bytes(chain_id), b"", b""]
    else:
        raise AnchorCheckError(f"v: expected 27, 28 or chain_id * 2 + 35/36, got {v}")
    digest = keccak256(rlp_encode(unsigned))
    sender = _recover_sender(digest, _scalar(fields[7], "r"), _scalar(fields[8], "s"), parity)
    return EthereumTransaction(
        TX_TYPE_LEGACY,
        chain_id,
        _scalar(fields[0], "nonce"),
        _address(fields[3]),
        _scalar(fields[4], "value"),
        _string(fields[5], "data"),
        keccak256(raw),
        sender,
    )


def _rlp_list(item: RlpItem, length: int, what: str) -> list[RlpItem]:
    if not isinstance(item, list) or len(item) != length:
        raise AnchorCheckError(f"{what}: expected an RLP list of {length} fields")
    return item


def _string(item: RlpItem, what: str) -> bytes:
    if not isinstance(item, bytes):
        raise AnchorCheckError(f"{what}: expected an RLP string, got a list")
    return item


def _scalar(item: RlpItem, what: str) -> int:
    """A canonical RLP integer: big-endian, no leading zero byte, at most 32 bytes."""
    data = _string(item, what)
    if len(data) > 32 or data[:1] == b"\x00":
        raise AnchorCheckError(f"{what}: expected a canonical integer of at most 32 bytes")
    return int.from_bytes(data, "big")


def _address(item: RlpItem) -> bytes:
    data = _string(item, "to")
    if len(data) != 20:
        raise AnchorCheckError(f"to: expected a 20-byte address, got {len(data)} bytes")
    return data


def _minimal_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


# --- RLP (Ethereum yellow paper, appendix B), strict: canonical encodings only --------------


def rlp_decode(data: bytes) -> RlpItem:
    """Decode one RLP item spanning all of `data`; raises AnchorCheckError otherwise."""
    item, end = _rlp_item(data, 0, len(data), 0)
    if end != len(data):
        raise AnchorCheckError(f"RLP: {len(data) - end} trailing bytes")
    return item


def rlp_encode(item: RlpItem) -> bytes:
    """Encode bytes and (nested) lists of bytes as RLP."""
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _rlp_length(len(item), 0x80) + item
    body = b"".join(rlp_encode(child) for child in item)
    return _rlp_length(len(body), 0xC0) + body


def _rlp_length(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    encoded = _minimal_bytes(length)
    return bytes([offset + 55 + len(encoded)]) + encoded


def _rlp_item(data: bytes, offset: int, limit: int, depth: int) -> tuple[RlpItem, int]:
    """Decode the item at `offset`, which must end by `limit`; returns it and its end."""
    if depth > RLP_DEPTH_MAX:
        raise AnchorCheckError(f"RLP: nested deeper than {RLP_DEPTH_MAX}")
    if offset >= limit:
        raise AnchorCheckError("RLP: truncated")
    prefix = data[offset]
    if prefix < 0x80:
        return data[offset : offset + 1], offset + 1
    is_list = prefix >= 0xC0
    start, length = _rlp_header(data, offset, limit, prefix - (0xC0 if is_list else 0x80))
    end = start + length
    if end > limit:
        raise AnchorCheckError("RLP: truncated")
    if not is_list:
        if length == 1 and data[start] < 0x80:
            raise AnchorCheckError("RLP: a single byte below 0x80 must encode itself")
        return data[start:end], end
    items: list[RlpItem] = []
    position = start
    while position < end:  # each item consumes at least one byte, so this is bounded
        item, position = _rlp_item(data, position, end, depth + 1)
        items.append(item)
    return items, end


def _rlp_header(data: bytes, offset: int, limit: int, short: int) -> tuple[int, int]:
    """Return (payload start, payload length) for a prefix `short` above its base."""
    if short <= 55:
        return offset + 1, short
    width = short - 55
    length_bytes = data[offset + 1 : min(offset + 1 + width, limit)]
    if len(length_bytes) != width:
        raise AnchorCheckError("RLP: truncated length")
    if length_bytes[0] == 0:
        raise AnchorCheckError("RLP: length with a leading zero byte")
    length = int.from_bytes(length_bytes, "big")
    if length < 56:
        raise AnchorCheckError("RLP: long form used for a length below 56")
    return offset + 1 + width, length


# --- keccak-256 (the pre-standard SHA-3 Ethereum uses; hashlib's sha3_256 pads differently) ---

_KECCAK_RATE_BYTES = 136
_MASK64 = (1 << 64) - 1
# Rotation offsets r[x][y] and the 24 round constants of Keccak-f[1600].
_ROTATIONS = (
    (0, 36, 3, 41, 18),
    (1, 44, 10, 45, 2),
    (62, 6, 43, 15, 61),
    (28, 55, 25, 21, 56),
    (27, 20, 39, 8, 14),
)


def _round_constants() -> tuple[int, ...]:
    """The iota constants, from the spec's LFSR x^8 + x^6 + x^5 + x^4 + 1."""
    state, constants = 1, []
    for _ in range(24):
        constant = 0
        for j in range(7):
            if state & 1:
                constant |= 1 << ((1 << j) - 1)
            state = ((state << 1) ^ 0x71) & 0xFF if state & 0x80 else state << 1
        constants.append(constant)
    return tuple(constants)


_ROUND_CONSTANTS = _round_constants()


def _rotate(lane: int, bits: int) -> int:
    return ((lane << bits) | (lane >> (64 - bits))) & _MASK64 if bits else lane


def _keccak_f(lanes: list[list[int]]) -> list[list[int]]:
    for constant in _ROUND_CONSTANTS:
        columns = [
            lanes[x][0] ^ lanes[x][1] ^ lanes[x][2] ^ lanes[x][3] ^ lanes[x][4] for x in range(5)
        ]
        deltas = [columns[(x - 1) % 5] ^ _rotate(columns[(x + 1) % 5], 1) for x in range(5)]
        moved = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                moved[y][(2 * x + 3 * y) % 5] = _rotate(lanes[x][y] ^ deltas[x], _ROTATIONS[x][y])
        lanes = [
            [moved[x][y] ^ (~moved[(x + 1) % 5][y] & moved[(x + 2) % 5][y]) for y in range(5)]
            for x in range(5)
        ]
        lanes[0][0] ^= constant
    return lanes


def keccak256(data: bytes, pad_byte: int = 0x01) -> bytes:
    """Keccak-256 of `data` (pad_byte 0x06 gives SHA3-256, used to test this code)."""
    padded = bytearray(data)
    padded.append(pad_byte)
    padded.extend(b"\x00" * (-len(padded) % _KECCAK_RATE_BYTES))
    padded[-1] |= 0x80
    lanes = [[0] * 5 for _ in range(5)]
    for block in range(0, len(padded), _KECCAK_RATE_BYTES):
        for index in range(_KECCAK_RATE_BYTES // 8):
            chunk = padded[block + 8 * index : block + 8 * index + 8]
            lanes[index % 5][index // 5] ^= int.from_bytes(chunk, "little")
        lanes = _keccak_f(lanes)
    return b"".join(lanes[i % 5][i // 5].to_bytes(8, "little") for i in range(4))


# --- secp256k1 public key recovery (SEC 1 v2, section 4.1.6) -------------------------------

_P = 2**256 - 2**32 - 977
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)
Point = tuple[int, int] | None  # None is the point at infinity


def _point_add(a: Point, b: Point) -> Point:
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % _P == 0:
        return None
    if a == b:
        slope = 3 * a[0] * a[0] * pow(2 * a[1], -1, _P) % _P
    else:
        slope = (b[1] - a[1]) * pow(b[0] - a[0], -1, _P) % _P
    x = (slope * slope - a[0] - b[0]) % _P
    return x, (slope * (a[0] - x) - a[1]) % _P


def _point_multiply(scalar: int, point: Point) -> Point:
    result: Point = None
    for bit in bin(scalar)[2:]:  # at most 256 doublings and additions
        result = _point_add(result, result)
        if bit == "1":
            result = _point_add(result, point)
    return result


def _recover_sender(digest: bytes, r: int, s: int, parity: int) -> bytes:
    """Recover the signer's address; low s (EIP-2) and r, s in range are required.

    The recovered key is then checked with `cryptography`'s own ECDSA verification.
    """
    if not 1 <= r < _N or not 1 <= s <= _N // 2:
        raise AnchorCheckError("signature: r or s out of range (s must be low, EIP-2)")
    alpha = (pow(r, 3, _P) + 7) % _P
    beta = pow(alpha, (_P + 1) // 4, _P)
    if beta * beta % _P != alpha:
        raise AnchorCheckError("signature: r is not the x coordinate of a curve point")
    y = beta if beta % 2 == parity else _P - beta
    e = int.from_bytes(digest, "big") % _N
    r_inverse = pow(r, -1, _N)
    key = _point_add(
        _point_multiply(-e * r_inverse % _N, _G), _point_multiply(s * r_inverse % _N, (r, y))
    )
    if key is None:
        raise AnchorCheckError("signature: recovers the point at infinity")
    encoded = key[0].to_bytes(32, "big") + key[1].to_bytes(32, "big")
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), b"\x04" + encoded)
    try:
        public_key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature as error:
        raise AnchorCheckError("signature: does not verify under the recovered key") from error
    return keccak256(encoded)[12:]


# --- Bitcoin ----------------------------------------------------------------------------------

BITCOIN_TRANSACTION_BYTES_MAX = 400_000  # a standard transaction weighs at most 400,000 units
BITCOIN_COMPACT_SIZE_MAX = 0x02000000  # Bitcoin Core's MAX_SIZE for a serialised length
OP_RETURN = 0x6A
OP_PUSHDATA1, OP_PUSHDATA2, OP_PUSHDATA4 = 0x4C, 0x4D, 0x4E
_TX_INPUT_BYTES_MIN = 41  # outpoint 36, empty script length 1, sequence 4
_TX_OUTPUT_BYTES_MIN = 9  # value 8, empty script length 1


@dataclass(frozen=True)
class BitcoinTransaction:
    """The fields of a Bitcoin transaction that an anchor check needs.

    `txid` is the double SHA-256 of the serialisation without witness data, as lowercase hex
    in the usual display (byte-reversed) order; `outputs` are (value in satoshis, script).
    """

    version: int
    segwit: bool
    input_count: int
    outputs: tuple[tuple[int, bytes], ...]
    locktime: int
    txid: str


def check_bitcoin_anchor(
    raw_tx: bytes,
    checkpoint_note: bytes,
    ledger_vkey: str,
    *,
    expected_txid: str | None = None,
) -> AnchorVerdict:
    """Check that Bitcoin transaction `raw_tx` anchors the checkpoint signed by the ledger.

    `raw_tx` is the serialised transaction (with or without witness data), or its hex text as
    read from a file (told apart by the first byte: a raw transaction starts with its
    little-endian version, not a printable character). The transaction must have exactly one
    OP_RETURN output whose single push is the anchor payload. `expected_txid` pins the txid
    found on the chain (display order). The verdict's `tx_hash` is the txid; the Ethereum
    fields (type, chain ID, sender, to) stay None. The raw bytes alone do not show that the
    transaction was mined: look the txid up on a node or explorer you trust. Raises
    KeyFormatError when `ledger_vkey` is not an Ed25519 verifier key string.
    """
    verifier = _ledger_verifier(ledger_vkey)
    try:
        if raw_tx[:1].isascii() and raw_tx[:1] >= b" ":
            raw_tx = _parse_bitcoin_hex(raw_tx)
        transaction = decode_bitcoin_transaction(raw_tx)
    except AnchorCheckError as error:
        return AnchorVerdict(False, f"transaction: {error}")
    verdict = AnchorVerdict(ok=False, tx_hash=transaction.txid)
    if expected_txid is not None:
        expected = expected_txid.strip().lower()
        if expected != transaction.txid:
            return replace(
                verdict, reason=f"txid: expected {expected}, the bytes hash to {transaction.txid}"
            )
    try:
        data = bitcoin_anchor_data(transaction)
    except AnchorCheckError as error:
        return replace(verdict, reason=f"OP_RETURN: {error}")
    return _check_payload(verdict, data, "OP_RETURN data", checkpoint_note, verifier)


def _check_payload(
    verdict: AnchorVerdict,
    data: bytes,
    carrier: str,
    checkpoint_note: bytes,
    verifier: Ed25519Verifier,
) -> AnchorVerdict:
    """Compare the anchor payload a transaction carries with the signed checkpoint."""
    try:
        payload = parse_anchor_payload(data)
    except AnchorPayloadError as error:
        return replace(verdict, reason=f"{carrier} is not a sequestra anchor payload: {error}")
    verdict = replace(
        verdict, origin=payload.origin, size=payload.size, root_hash=payload.root_hash
    )
    try:
        checkpoint = Checkpoint.parse(open_note(checkpoint_note, [verifier]).text)
    except NoteError as error:
        reason = f"checkpoint note: not verified under the ledger key {verifier.name}: {error}"
        return replace(verdict, reason=reason)
    except CheckpointError as error:
        return replace(verdict, reason=f"checkpoint note: {error}")
    mismatch = _compare(payload.origin, payload.size, payload.root_hash, checkpoint)
    if mismatch is not None:
        return replace(verdict, reason=mismatch)
    return replace(verdict, ok=True)


def decode_bitcoin_transaction(raw: bytes) -> BitcoinTransaction:
    """Decode a serialised Bitcoin transaction strictly and compute its txid.

    Accepts the legacy serialisation and the BIP-144 one (marker 0x00, flag 0x01, a witness
    per input, at least one of them non-empty). Raises AnchorCheckError for a transaction
    larger than BITCOIN_TRANSACTION_BYTES_MAX, without inputs or outputs, with a
    non-canonical length, truncated, or followed by trailing bytes.
    """
    if not isinstance(raw, bytes | bytearray) or not raw:
        raise AnchorCheckError("expected the raw transaction bytes")
    raw = bytes(raw)
    if len(raw) > BITCOIN_TRANSACTION_BYTES_MAX:
        raise AnchorCheckError(f"larger than {BITCOIN_TRANSACTION_BYTES_MAX} bytes")
    reader = _Reader(raw)
    version = int.from_bytes(reader.take(4, "version"), "little", signed=True)
    segwit = raw[4:6] == b"\x00\x01"
    if raw[4:5] == b"\x00" and not segwit:
        raise AnchorCheckError("expected the segwit flag 0x01 after the marker 0x00")
    if segwit:
        reader.take(2, "segwit marker")
    body_start = reader.position
    input_count = reader.count(_TX_INPUT_BYTES_MIN, "inputs")
    if input_count == 0:
        raise AnchorCheckError("expected at least one input")
    for _ in range(input_count):
        reader.take(36, "input outpoint")
        reader.take(reader.count(1, "input script bytes"), "input script")
        reader.take(4, "input sequence")
    output_count = reader.count(_TX_OUTPUT_BYTES_MIN, "outputs")
    if output_count == 0:
        raise AnchorCheckError("expected at least one output")
    outputs: list[tuple[int, bytes]] = []
    for _ in range(output_count):
        value = int.from_bytes(reader.take(8, "output value"), "little", signed=True)
        outputs.append((value, reader.take(reader.count(1, "output script bytes"), "script")))
    body_end = reader.position
    if segwit:
        witnessed = False
        for _ in range(input_count):
            items = reader.count(1, "witness items")
            witnessed = witnessed or items > 0
            for _ in range(items):
                reader.take(reader.count(1, "witness item bytes"), "witness item")
        if not witnessed:
            raise AnchorCheckError("the segwit marker is set but every witness is empty")
    locktime_bytes = reader.take(4, "locktime")
    if reader.position != len(raw):
        raise AnchorCheckError(f"{len(raw) - reader.position} trailing bytes")
    stripped = raw[:4] + raw[body_start:body_end] + locktime_bytes
    txid = hashlib.sha256(hashlib.sha256(stripped).digest()).digest()[::-1].hex()
    locktime = int.from_bytes(locktime_bytes, "little")
    return BitcoinTransaction(version, segwit, input_count, tuple(outputs), locktime, txid)


def bitcoin_anchor_data(transaction: BitcoinTransaction) -> bytes:
    """Return the data pushed by the transaction's one OP_RETURN output.

    Raises AnchorCheckError when there is no OP_RETURN output, more than one, or its script
    is not OP_RETURN followed by exactly one data push.
    """
    scripts = [script for _, script in transaction.outputs if script[:1] == bytes([OP_RETURN])]
    if len(scripts) != 1:
        raise AnchorCheckError(f"expected exactly one OP_RETURN output, got {len(scripts)}")
    return op_return_data(scripts[0])


def op_return_data(script: bytes) -> bytes:
    """Return the data of a script that is OP_RETURN and one push (direct or OP_PUSHDATA1/2/4).

    Raises AnchorCheckError for any other script, a truncated push or bytes after it.
    """
    if script[:1] != bytes([OP_RETURN]) or len(script) < 2:
        raise AnchorCheckError("expected OP_RETURN followed by one data push")
    opcode = script[1]
    if 0x01 <= opcode <= 0x4B:
        start, length = 2, opcode
    elif opcode in (OP_PUSHDATA1, OP_PUSHDATA2, OP_PUSHDATA4):
        width = {OP_PUSHDATA1: 1, OP_PUSHDATA2: 2, OP_PUSHDATA4: 4}[opcode]
        if len(script) < 2 + width:
            raise AnchorCheckError("the push length is truncated")
        start, length = 2 + width, int.from_bytes(script[2 : 2 + width], "little")
    else:
        raise AnchorCheckError(f"expected a data push after OP_RETURN, got opcode 0x{opcode:02x}")
    if len(script) != start + length:
        raise AnchorCheckError(
            f"the push announces {length} bytes, the script holds {len(script) - start}"
        )
    return script[start:]


def _parse_bitcoin_hex(text: bytes) -> bytes:
    try:
        digits = text.decode("ascii").strip()
    except UnicodeDecodeError as error:
        raise AnchorCheckError("raw transaction: expected hex text") from error
    if digits[:2] in ("0x", "0X"):
        digits = digits[2:]
    if len(digits) > 2 * BITCOIN_TRANSACTION_BYTES_MAX:
        raise AnchorCheckError(f"larger than {BITCOIN_TRANSACTION_BYTES_MAX} bytes")
    try:
        return binascii.unhexlify(digits)
    except (binascii.Error, ValueError) as error:
        raise AnchorCheckError("raw transaction: expected an even number of hex digits") from error


class _Reader:
    """Reads a serialised transaction front to back; every read is bounds-checked."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, length: int, what: str) -> bytes:
        end = self.position + length
        if end > len(self.data):
            raise AnchorCheckError(f"truncated in the {what}")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def count(self, item_bytes_min: int, what: str) -> int:
        """A canonical CompactSize that the remaining bytes can hold `item_bytes_min` each."""
        first = self.take(1, what)[0]
        if first < 0xFD:
            value = first
        else:
            width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
            value = int.from_bytes(self.take(width, what), "little")
            if value < {2: 0xFD, 4: 0x10000, 8: 0x100000000}[width]:
                raise AnchorCheckError(f"{what}: non-canonical CompactSize")
        if value > BITCOIN_COMPACT_SIZE_MAX:
            raise AnchorCheckError(f"{what}: {value} is larger than {BITCOIN_COMPACT_SIZE_MAX}")
        if value * item_bytes_min > len(self.data) - self.position:
            raise AnchorCheckError(f"truncated: {value} {what} do not fit")
        return value
