"""In-memory regtest chain of the Bitcoin sandbox: blocks, UTXO set, mempool, mining, reorgs.

Everything here is real Bitcoin data made with python-bitcoinlib: transactions and blocks are
serialised by the library, txids and block hashes are double SHA-256 of that serialisation,
blocks carry a BIP-34 height, a BIP-141 witness commitment, a merkle root over their txids
and proof of work at the regtest target (`207fffff`, so about every second nonce wins).
Consensus parameters are regtest's: 50 BTC subsidy halving every 150 blocks, coinbase
maturity 100, genesis `0f9188f1...` whose coinbase stays out of the UTXO set.

The chain keeps every block it has seen, the active chain, the UTXO set with undo data per
block, and a mempool. `invalidate_block` and `reconsider_block` reorganise as Bitcoin Core
does: disconnected transactions go back to the mempool when still valid, and the best valid
chain (most work, first seen on a tie) becomes active.

Script checks cover what the sandbox can sign: P2WPKH (BIP-143, checked here), P2PKH, P2PK
and plain P2SH (python-bitcoinlib's interpreter). Spends of P2WSH, P2TR and nested segwit
outputs are refused as unverifiable rather than accepted unchecked.

Not thread-safe: the RPC server holds one lock around every call into a chain.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from bitcoin.core import (  # type: ignore[import-untyped]
    CBlock,
    CBlockHeader,
    CoreRegTestParams,
    COutPoint,
    CTransaction,
    CTxIn,
    CTxInWitness,
    CTxOut,
    CTxWitness,
    Hash,
    Hash160,
)
from bitcoin.core.key import CPubKey  # type: ignore[import-untyped]
from bitcoin.core.script import (  # type: ignore[import-untyped]
    OP_0,
    SIGVERSION_WITNESS_V0,
    CScript,
    CScriptWitness,
    SignatureHash,
)
from bitcoin.core.scripteval import (  # type: ignore[import-untyped]
    SCRIPT_VERIFY_P2SH,
    VerifyScript,
)
from bitcoin.core.serialize import SerializationError  # type: ignore[import-untyped]

from sequestra.addresses import AddressError
from sequestra.addresses.bitcoin import (
    BASE58_ALPHABET,
    BECH32_CHARSET,
    BECH32_CHECKSUM_LENGTH,
    BECH32_LENGTH_MAX,
    Bech32Encoding,
    bech32_hrp_expand,
    bech32_polymod,
    decode_bech32,
    validate_bitcoin_address,
)

COIN: Final = 100_000_000
MONEY_MAX_SATS: Final = 21_000_000 * COIN
REGTEST_BITS: Final = 0x207FFFFF
HALVING_INTERVAL_BLOCKS: Final = 150
COINBASE_MATURITY_BLOCKS: Final = 100
SUBSIDY_INITIAL_SATS: Final = 50 * COIN
BLOCK_VERSION: Final = 0x20000000
BLOCK_WEIGHT_MAX: Final = 4_000_000
COINBASE_WEIGHT_RESERVED: Final = 8_000
TX_STANDARD_WEIGHT_MAX: Final = 400_000
TX_STANDARD_VERSION_MAX: Final = 3
TX_NON_WITNESS_SIZE_MIN: Final = 65
SCRIPT_SIG_SIZE_MAX: Final = 1650
SCRIPT_SIZE_MAX: Final = 10_000
MEDIAN_TIME_SPAN_BLOCKS: Final = 11
TIP_AGE_MAX_S: Final = 24 * 3600
LOCKTIME_THRESHOLD: Final = 500_000_000
SEQUENCE_FINAL: Final = 0xFFFFFFFF
SEQUENCE_LOCKTIME_DISABLE_FLAG: Final = 1 << 31
SEQUENCE_LOCKTIME_TYPE_FLAG: Final = 1 << 22
SEQUENCE_LOCKTIME_MASK: Final = 0x0000FFFF
SEQUENCE_LOCKTIME_GRANULARITY_BITS: Final = 9
MIN_RELAY_FEE_SAT_PER_KVB: Final = 100  # Bitcoin Core 30 default -minrelaytxfee
INCREMENTAL_RELAY_FEE_SAT_PER_KVB: Final = 100
DUST_RELAY_FEE_SAT_PER_KVB: Final = 3000
# -datacarriersize's default: bytes of OP_RETURN output script a node relays (Core 30; 83
# before it, see DatacarrierPolicy).
DATACARRIER_BYTES_MAX_DEFAULT: Final = 100_000
REPLACEMENT_EVICTIONS_MAX: Final = 100
MEMPOOL_HEIGHT: Final = 0x7FFFFFFF  # Bitcoin Core's height for coins created in the mempool
SCRIPT_CACHE_ENTRIES_MAX: Final = 100_000
BLOCKS_MAX: Final = 1_000_000  # bounds every walk over the block tree
NONCE_MAX: Final = 0xFFFFFFFF
BASE58_DECODE_LENGTH_MAX: Final = 100
WITNESS_RESERVED_VALUE: Final = bytes(32)
WITNESS_COMMITMENT_HEADER: Final = bytes.fromhex("6a24aa21a9ed")
ANCHOR_SCRIPT: Final = bytes.fromhex("51024e73")
REGTEST_HRP: Final = "bcrt"
P2PKH_VERSION: Final = 0x6F
P2SH_VERSION: Final = 0xC4
GENESIS_BLOCK: Final = CoreRegTestParams.GENESIS_BLOCK
SECP256K1_ORDER: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

_OP_PUSHDATA1: Final = 0x4C
_OP_PUSHDATA2: Final = 0x4D
_OP_PUSHDATA4: Final = 0x4E
_OP_1NEGATE: Final = 0x4F
_OP_1: Final = 0x51
_OP_16: Final = 0x60
_OP_RETURN: Final = 0x6A
_OP_DUP: Final = 0x76
_OP_EQUAL: Final = 0x87
_OP_EQUALVERIFY: Final = 0x88
_OP_HASH160: Final = 0xA9
_OP_CHECKSIG: Final = 0xAC
_OP_CHECKMULTISIG: Final = 0xAE


class ChainError(Exception):
    """A request the chain cannot honour; `reason` is Bitcoin Core's text for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransactionRejected(ChainError):
    """The mempool refused a transaction (Bitcoin Core's RPC_VERIFY_REJECTED, -26)."""


class MissingInputs(ChainError):
    """A transaction spends an output that does not exist or is spent (-25)."""


class FeeTooHigh(ChainError):
    """A transaction pays more than the caller's maximum fee rate allows (-25)."""


class BlockInvalid(ChainError):
    """A block failed validation while it was being connected."""


class ScriptParseError(ValueError):
    """A script ends inside a push."""


class AddressDecodeError(ValueError):
    """An address is not valid on regtest; `message` and `locations` follow Bitcoin Core."""

    def __init__(self, message: str, locations: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.locations = locations


Outpoint = tuple[bytes, int]  # (txid in internal byte order, output index)


@dataclass(frozen=True, slots=True)
class Coin:
    """An unspent output: value, script, the height that created it, whether a coinbase."""

    value_sats: int
    script_pubkey: bytes
    height: int
    coinbase: bool


@dataclass(frozen=True, slots=True)
class ScriptOp:
    """One script operation: the opcode and, for pushes, the pushed bytes."""

    opcode: int
    data: bytes | None


@dataclass(frozen=True, slots=True)
class ScriptInfo:
    """What an output script is, in Bitcoin Core's words (`TxoutType` names).

    `address` is None for scripts without one (P2PK, multisig, data, non-standard).
    `program` is the witness program, the hash of P2PKH/P2SH, or the key of P2PK.
    """

    kind: str
    address: str | None
    witness_version: int | None
    program: bytes


@dataclass(frozen=True, slots=True)
class MempoolEntry:
    """A transaction accepted to the mempool, with the figures Bitcoin Core reports."""

    tx: Any  # CTransaction
    txid: bytes
    wtxid: bytes
    fee_sats: int
    vsize: int
    weight: int
    time_s: int


@dataclass(frozen=True, slots=True)
class DatacarrierPolicy:
    """How many bytes of OP_RETURN output script the node relays (`-datacarriersize`).

    Core 30 counts every OP_RETURN output of a transaction against one budget and rejects
    with "datacarrier" (`aggregate`); v25-v29 check each output alone and reject with
    "scriptpubkey", their default being 83 bytes. 0 stands for `-datacarrier=0`.
    """

    bytes_max: int = DATACARRIER_BYTES_MAX_DEFAULT
    aggregate: bool = True

    def __post_init__(self) -> None:
        if self.bytes_max < 0:
            raise ValueError(f"datacarrier bytes_max: expected >= 0, got {self.bytes_max}")

    def reject_reason(self) -> str:
        """Core's reject reason for an OP_RETURN output over the limit."""
        return "datacarrier" if self.aggregate else "scriptpubkey"


@dataclass(slots=True)
class BlockRecord:
    """A block the chain has seen, with its place in the tree and its undo data.

    `undo` holds, per non-coinbase transaction, the coins its inputs spent; it is set when
    the block is first connected and kept when it is disconnected (as Core keeps rev files).
    """

    block: Any  # CBlock
    block_hash: bytes
    height: int
    chainwork: int
    sequence: int
    size: int
    stripped_size: int
    weight: int
    failed: bool = False
    failed_parent: bool = False
    undo: tuple[tuple[Coin, ...], ...] | None = None

    @property
    def parent_hash(self) -> bytes:
        """Return the previous block's hash (internal byte order)."""
        return bytes(self.block.hashPrevBlock)

    @property
    def invalid(self) -> bool:
        """Tell whether this block or one of its ancestors was marked invalid."""
        return self.failed or self.failed_parent


# --- hashes, amounts, proof of work ---


def hash_to_hex(value: bytes) -> str:
    """Write a txid or block hash in display (byte-reversed) hex."""
    return value[::-1].hex()


def compact_to_target(bits: int) -> int:
    """Expand a compact target (`nBits`) to the 256-bit target."""
    exponent = bits >> 24
    mantissa = bits & 0x007FFFFF
    if exponent <= 3:
        return mantissa >> (8 * (3 - exponent))
    return mantissa << (8 * (exponent - 3))


def block_work(bits: int) -> int:
    """Return the expected number of hashes for a block at `bits` (Core's GetBlockProof)."""
    target = compact_to_target(bits)
    return (1 << 256) // (target + 1)


def difficulty(bits: int) -> float:
    """Return the difficulty of `bits` relative to the mainnet minimum (Core's GetDifficulty)."""
    shift = (bits >> 24) & 0xFF
    value = float(0x0000FFFF) / float(bits & 0x00FFFFFF)
    while shift < 29:
        value *= 256.0
        shift += 1
    while shift > 29:
        value /= 256.0
        shift -= 1
    return value


def block_subsidy_sats(height: int) -> int:
    """Return the regtest block subsidy at `height`."""
    halvings = height // HALVING_INTERVAL_BLOCKS
    return 0 if halvings >= 64 else SUBSIDY_INITIAL_SATS >> halvings


def format_money(value_sats: int) -> str:
    """Write an amount as Core's FormatMoney does in messages ("50.00", "0.0001")."""
    sign = "-" if value_sats < 0 else ""
    whole, fraction = divmod(abs(value_sats), COIN)
    digits = f"{fraction:08d}".rstrip("0")
    return f"{sign}{whole}.{digits.ljust(2, '0')}"


def fee_for_size_sats(rate_sat_per_kvb: int, vsize: int) -> int:
    """Return the fee at a rate for a virtual size, rounded up (Core's CFeeRate::GetFee)."""
    return -((-rate_sat_per_kvb * vsize) // 1000)


def transaction_sizes(tx: Any) -> tuple[int, int, int]:
    """Return (size with witness, size without witness, weight) of a transaction."""
    size = len(tx.serialize())
    stripped = len(tx.serialize({"include_witness": False}))
    return size, stripped, stripped * 3 + size


def transaction_vsize(tx: Any) -> int:
    """Return the BIP-141 virtual size of a transaction."""
    return (transaction_sizes(tx)[2] + 3) // 4


def witness_stack(tx: Any, index: int) -> tuple[bytes, ...]:
    """Return the witness stack of input `index` (empty when the transaction has none)."""
    entries = tx.wit.vtxinwit
    if index >= len(entries):
        return ()
    return tuple(bytes(item) for item in entries[index].scriptWitness.stack)


def is_unspendable(script: bytes) -> bool:
    """Tell whether an output can never be spent and stays out of the UTXO set."""
    return (len(script) > 0 and script[0] == _OP_RETURN) or len(script) > SCRIPT_SIZE_MAX


# --- scripts ---


def parse_script(script: bytes) -> list[ScriptOp]:
    """Split a script into operations.

    Raises:
        ScriptParseError: a push runs past the end of the script.
    """
    ops: list[ScriptOp] = []
    position = 0
    while position < len(script):  # each pass consumes at least one byte
        opcode = script[position]
        position += 1
        if opcode > _OP_PUSHDATA4:
            ops.append(ScriptOp(opcode, None))
            continue
        if opcode < _OP_PUSHDATA1:
            size = opcode
        else:
            width = {_OP_PUSHDATA1: 1, _OP_PUSHDATA2: 2, _OP_PUSHDATA4: 4}[opcode]
            if position + width > len(script):
                raise ScriptParseError("push length runs past the end of the script")
            size = int.from_bytes(script[position : position + width], "little")
            position += width
        if position + size > len(script):
            raise ScriptParseError("push data runs past the end of the script")
        ops.append(ScriptOp(opcode, script[position : position + size]))
        position += size
    return ops


def is_push_only(ops: list[ScriptOp]) -> bool:
    """Tell whether every operation pushes data or a number (OP_RESERVED excluded)."""
    return all(op.opcode <= _OP_16 and op.opcode != 0x50 for op in ops)


def witness_program(script: bytes) -> tuple[int, bytes] | None:
    """Return (version, program) if `script` is a witness program (BIP-141), else None."""
    if not 4 <= len(script) <= 42:
        return None
    if script[0] != 0 and not _OP_1 <= script[0] <= _OP_16:
        return None
    if script[1] + 2 != len(script):
        return None
    version = 0 if script[0] == 0 else script[0] - _OP_1 + 1
    return version, script[2:]


def _pubkey_size_valid(key: bytes) -> bool:
    """Tell whether `key` has the size its first byte announces (Core's CPubKey::ValidSize)."""
    if len(key) == 33:
        return key[0] in (2, 3)
    if len(key) == 65:
        return key[0] in (4, 6, 7)
    return False


def classify_script(script: bytes) -> ScriptInfo:
    """Name an output script's type and its regtest address, as Bitcoin Core's Solver does."""
    if len(script) == 23 and script[:2] == bytes([_OP_HASH160, 20]) and script[22] == _OP_EQUAL:
        payload = bytes([P2SH_VERSION]) + script[2:22]
        return ScriptInfo("scripthash", encode_base58check(payload), None, script[2:22])
    program = witness_program(script)
    if program is not None:
        return _classify_witness(*program)
    try:
        ops = parse_script(script)
    except ScriptParseError:
        return ScriptInfo("nonstandard", None, None, b"")
    if script[:1] == bytes([_OP_RETURN]) and is_push_only(ops[1:]):
        return ScriptInfo("nulldata", None, None, b"")
    if len(ops) == 2 and ops[1].opcode == _OP_CHECKSIG and _pubkey_size_valid(ops[0].data or b""):
        return ScriptInfo("pubkey", None, None, ops[0].data or b"")
    if script == p2pkh_script(script[3:23]):
        payload = bytes([P2PKH_VERSION]) + script[3:23]
        return ScriptInfo("pubkeyhash", encode_base58check(payload), None, script[3:23])
    if _is_multisig(ops):
        return ScriptInfo("multisig", None, None, b"")
    return ScriptInfo("nonstandard", None, None, b"")


def _classify_witness(version: int, program: bytes) -> ScriptInfo:
    """Name a witness output (Core's Solver branch for witness programs)."""
    address = encode_segwit_address(version, program)
    if version == 0 and len(program) == 20:
        return ScriptInfo("witness_v0_keyhash", address, 0, program)
    if version == 0 and len(program) == 32:
        return ScriptInfo("witness_v0_scripthash", address, 0, program)
    if version == 1 and len(program) == 32:
        return ScriptInfo("witness_v1_taproot", address, 1, program)
    if version == 1 and program == ANCHOR_SCRIPT[2:]:
        return ScriptInfo("anchor", address, 1, program)
    if version != 0:
        return ScriptInfo("witness_unknown", address, version, program)
    return ScriptInfo("nonstandard", None, None, b"")


def _is_multisig(ops: list[ScriptOp]) -> bool:
    """Tell whether `ops` is bare multisig: OP_m <keys> OP_n OP_CHECKMULTISIG."""
    if len(ops) < 4 or ops[-1].opcode != _OP_CHECKMULTISIG:
        return False
    required, total = ops[0].opcode, ops[-2].opcode
    if not (_OP_1 <= required <= _OP_16 and _OP_1 <= total <= _OP_16):
        return False
    keys = ops[1:-2]
    if len(keys) != total - _OP_1 + 1 or required > total:
        return False
    return all(op.data is not None and _pubkey_size_valid(op.data) for op in keys)


_SIGHASH_NAMES: Final = {
    0x01: "ALL",
    0x81: "ALL|ANYONECANPAY",
    0x02: "NONE",
    0x82: "NONE|ANYONECANPAY",
    0x03: "SINGLE",
    0x83: "SINGLE|ANYONECANPAY",
}
_OPCODE_NAMES: Final = {
    0x4C: "OP_PUSHDATA1",
    0x4D: "OP_PUSHDATA2",
    0x4E: "OP_PUSHDATA4",
    0x4F: "-1",
    0x50: "OP_RESERVED",
    **{_OP_1 + offset: str(offset + 1) for offset in range(16)},
    **{
        code: name
        for code, name in enumerate(
            [
                "OP_NOP",
                "OP_VER",
                "OP_IF",
                "OP_NOTIF",
                "OP_VERIF",
                "OP_VERNOTIF",
                "OP_ELSE",
                "OP_ENDIF",
                "OP_VERIFY",
                "OP_RETURN",
                "OP_TOALTSTACK",
                "OP_FROMALTSTACK",
                "OP_2DROP",
                "OP_2DUP",
                "OP_3DUP",
                "OP_2OVER",
                "OP_2ROT",
                "OP_2SWAP",
                "OP_IFDUP",
                "OP_DEPTH",
                "OP_DROP",
                "OP_DUP",
                "OP_NIP",
                "OP_OVER",
                "OP_PICK",
                "OP_ROLL",
                "OP_ROT",
                "OP_SWAP",
                "OP_TUCK",
                "OP_CAT",
                "OP_SUBSTR",
                "OP_LEFT",
                "OP_RIGHT",
                "OP_SIZE",
                "OP_INVERT",
                "OP_AND",
                "OP_OR",
                "OP_XOR",
                "OP_EQUAL",
                "OP_EQUALVERIFY",
                "OP_RESERVED1",
                "OP_RESERVED2",
                "OP_1ADD",
                "OP_1SUB",
                "OP_2MUL",
                "OP_2DIV",
                "OP_NEGATE",
                "OP_ABS",
                "OP_NOT",
                "OP_0NOTEQUAL",
                "OP_ADD",
                "OP_SUB",
                "OP_MUL",
                "OP_DIV",
                "OP_MOD",
                "OP_LSHIFT",
                "OP_RSHIFT",
                "OP_BOOLAND",
                "OP_BOOLOR",
                "OP_NUMEQUAL",
                "OP_NUMEQUALVERIFY",
                "OP_NUMNOTEQUAL",
                "OP_LESSTHAN",
                "OP_GREATERTHAN",
                "OP_LESSTHANOREQUAL",
                "OP_GREATERTHANOREQUAL",
                "OP_MIN",
                "OP_MAX",
                "OP_WITHIN",
                "OP_RIPEMD160",
                "OP_SHA1",
                "OP_SHA256",
                "OP_HASH160",
                "OP_HASH256",
                "OP_CODESEPARATOR",
                "OP_CHECKSIG",
                "OP_CHECKSIGVERIFY",
                "OP_CHECKMULTISIG",
                "OP_CHECKMULTISIGVERIFY",
                "OP_NOP1",
                "OP_CHECKLOCKTIMEVERIFY",
                "OP_CHECKSEQUENCEVERIFY",
                "OP_NOP4",
                "OP_NOP5",
                "OP_NOP6",
                "OP_NOP7",
                "OP_NOP8",
                "OP_NOP9",
                "OP_NOP10",
                "OP_CHECKSIGADD",
            ],
            start=0x61,
        )
    },
    0xFF: "OP_INVALIDOPCODE",
}


def _script_number(data: bytes) -> int:
    """Decode a minimal-or-not script number of at most 4 bytes (Core's CScriptNum)."""
    if not data:
        return 0
    value = int.from_bytes(data, "little")
    if data[-1] & 0x80:
        return -(value & ~(0x80 << (8 * (len(data) - 1))))
    return value


def script_to_asm(script: bytes, decode_sighash: bool = False) -> str:
    """Render a script as Bitcoin Core's ScriptToAsmStr does.

    With `decode_sighash` (used for scriptSigs) a push that is a strictly encoded signature
    is written as its DER hex followed by the hash type, e.g. `3044...[ALL]`.
    """
    words: list[str] = []
    unspendable = is_unspendable(script)
    position = 0
    while position < len(script):
        try:
            op = parse_script(script[position:])[0]
        except ScriptParseError:
            words.append("[error]")
            break
        position += _op_length(op)
        if op.data is None:
            words.append(_OPCODE_NAMES.get(op.opcode, "OP_UNKNOWN"))
        elif len(op.data) <= 4:
            words.append(str(_script_number(op.data)))
        elif decode_sighash and not unspendable and is_strict_signature(op.data):
            words.append(op.data[:-1].hex() + f"[{_SIGHASH_NAMES[op.data[-1]]}]")
        else:
            words.append(op.data.hex())
    return " ".join(words)


def _op_length(op: ScriptOp) -> int:
    """Return how many script bytes an operation took."""
    if op.data is None or op.opcode < _OP_PUSHDATA1:
        return 1 + (len(op.data) if op.data is not None else 0)
    width = {_OP_PUSHDATA1: 1, _OP_PUSHDATA2: 2, _OP_PUSHDATA4: 4}[op.opcode]
    return 1 + width + len(op.data)


def is_valid_signature_encoding(signature: bytes) -> bool:
    """Check strict DER plus one hash-type byte (BIP-66 IsValidSignatureEncoding)."""
    if not 9 <= len(signature) <= 73 or signature[0] != 0x30:
        return False
    if signature[1] != len(signature) - 3:
        return False
    length_r = signature[3]
    if 5 + length_r >= len(signature):
        return False
    length_s = signature[5 + length_r]
    if length_r + length_s + 7 != len(signature):
        return False
    if signature[2] != 0x02 or length_r == 0 or signature[4] & 0x80:
        return False
    if length_r > 1 and signature[4] == 0 and not signature[5] & 0x80:
        return False
    if signature[length_r + 4] != 0x02 or length_s == 0 or signature[length_r + 6] & 0x80:
        return False
    return not (
        length_s > 1 and signature[length_r + 6] == 0 and not signature[length_r + 7] & 0x80
    )


def is_strict_signature(signature: bytes) -> bool:
    """Tell whether `signature` is strict DER with a defined hash type (STRICTENC)."""
    return is_valid_signature_encoding(signature) and signature[-1] in _SIGHASH_NAMES


def is_low_s(signature: bytes) -> bool:
    """Tell whether a strictly encoded signature has S at most half the curve order."""
    length_r = signature[3]
    length_s = signature[5 + length_r]
    value_s = int.from_bytes(signature[6 + length_r : 6 + length_r + length_s], "big")
    return value_s <= SECP256K1_ORDER // 2


def p2pkh_script(key_hash: bytes) -> bytes:
    """Return the P2PKH script paying to a 20-byte key hash."""
    return bytes([_OP_DUP, _OP_HASH160, 20]) + key_hash + bytes([_OP_EQUALVERIFY, _OP_CHECKSIG])


def p2sh_script(script_hash: bytes) -> bytes:
    """Return the P2SH script paying to a 20-byte script hash."""
    return bytes([_OP_HASH160, 20]) + script_hash + bytes([_OP_EQUAL])


def segwit_script(version: int, program: bytes) -> bytes:
    """Return the witness output script of a version and program."""
    opcode = 0 if version == 0 else _OP_1 + version - 1
    return bytes([opcode, len(program)]) + program


def null_data_script(data: bytes) -> bytes:
    """Return `OP_RETURN <data>` with the push encoded as Bitcoin Core's CScript does."""
    return bytes([_OP_RETURN]) + _push(data)


def _push(data: bytes) -> bytes:
    """Encode a data push with the shortest opcode."""
    if len(data) < _OP_PUSHDATA1:
        return bytes([len(data)]) + data
    if len(data) <= 0xFF:
        return bytes([_OP_PUSHDATA1, len(data)]) + data
    if len(data) <= 0xFFFF:
        return bytes([_OP_PUSHDATA2]) + len(data).to_bytes(2, "little") + data
    return bytes([_OP_PUSHDATA4]) + len(data).to_bytes(4, "little") + data


def hash160(data: bytes) -> bytes:
    """Return RIPEMD-160 of SHA-256 of `data`."""
    return bytes(Hash160(data))


# --- addresses ---


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    """Regroup bit groups (BIP-173 convertbits).

    Raises:
        ValueError: more than `from_bits - 1` bits left over, or non-zero padding.
    """
    accumulator = 0
    bit_count = 0
    result: list[int] = []
    mask = (1 << to_bits) - 1
    for value in data:
        accumulator = (accumulator << from_bits | value) & ((1 << (from_bits + to_bits)) - 1)
        bit_count += from_bits
        while bit_count >= to_bits:
            bit_count -= to_bits
            result.append((accumulator >> bit_count) & mask)
    if pad:
        if bit_count:
            result.append((accumulator << (to_bits - bit_count)) & mask)
    elif bit_count >= from_bits or (accumulator << (to_bits - bit_count)) & mask:
        raise ValueError("invalid padding")
    return result


def encode_segwit_address(version: int, program: bytes, hrp: str = REGTEST_HRP) -> str:
    """Encode a witness program as a Bech32 (v0) or Bech32m (v1+) address."""
    data = [version, *_convert_bits(program, 8, 5, True)]
    constant = (Bech32Encoding.BECH32 if version == 0 else Bech32Encoding.BECH32M).value
    polymod = bech32_polymod([*bech32_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ constant
    checksum = [(polymod >> 5 * (5 - index)) & 31 for index in range(6)]
    return hrp + "1" + "".join(BECH32_CHARSET[value] for value in [*data, *checksum])


def encode_base58check(payload: bytes) -> str:
    """Encode bytes as Base58Check (payload plus a 4-byte double-SHA-256 checksum)."""
    raw = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(raw, "big")
    digits = ""
    while number:  # at most len(raw) * 1.37 iterations
        number, remainder = divmod(number, 58)
        digits = BASE58_ALPHABET[remainder] + digits
    leading = len(raw) - len(raw.lstrip(b"\x00"))
    return "1" * leading + digits


def decode_base58(text: str, length_max: int) -> bytes | None:
    """Decode Base58 as Core's DecodeBase58 (spaces around allowed); None if not Base58."""
    stripped = text.strip(" \t\n\v\f\r")
    if len(stripped) > length_max * 138 // 100 + 1:
        return None
    number = 0
    for character in stripped:
        digit = BASE58_ALPHABET.find(character)
        if digit == -1:
            return None
        number = number * 58 + digit
    leading = len(stripped) - len(stripped.lstrip("1"))
    raw = bytes(leading) + number.to_bytes((number.bit_length() + 7) // 8, "big")
    return raw if len(raw) <= length_max else None


def decode_address(text: str) -> bytes:
    """Decode a regtest address into the output script it pays to.

    Acceptance is the project's BIP-173/350 validator's; a refusal is explained with Bitcoin
    Core's message and error locations, as `validateaddress` reports them.

    Raises:
        AddressDecodeError: the address is not a valid regtest address.
    """
    try:
        return validate_bitcoin_address(text, "regtest").script_pubkey
    except AddressError:
        pass
    message, locations = _core_address_error(text)
    raise AddressDecodeError(message, locations)


def _core_address_error(text: str) -> tuple[str, tuple[int, ...]]:
    """Explain why `text` is no regtest address, in Bitcoin Core's words (DecodeDestination)."""
    if text[: len(REGTEST_HRP)].lower() != REGTEST_HRP:
        raw = decode_base58(text, 21 + 4)
        if raw is not None and len(raw) >= 4:
            body, checksum = raw[:-4], raw[-4:]
            if hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4] == checksum:
                if body[:1] in (bytes([P2PKH_VERSION]), bytes([P2SH_VERSION])):
                    return "Invalid length for Base58 address (P2PKH or P2SH)", ()
                return "Invalid or unsupported Base58-encoded address.", ()
        if decode_base58(text, BASE58_DECODE_LENGTH_MAX) is None:
            return "Invalid or unsupported Segwit (Bech32) or Base58 encoding.", ()
        return "Invalid checksum or length of Base58 address (P2PKH or P2SH)", ()
    try:
        decoded = decode_bech32(text)
    except AddressError:
        return locate_bech32_errors(text)
    return _segwit_error(decoded.hrp, decoded.data, decoded.encoding), ()


def _segwit_error(hrp: str, data: tuple[int, ...], encoding: Bech32Encoding) -> str:
    """Explain why a well-formed Bech32 string is no regtest segwit address."""
    if not data:
        return "Empty Bech32 data section"
    if hrp != REGTEST_HRP:
        return (
            "Invalid or unsupported prefix for Segwit (Bech32) address "
            f"(expected {REGTEST_HRP}, got {hrp})."
        )
    version = data[0]
    if version == 0 and encoding is not Bech32Encoding.BECH32:
        return "Version 0 witness address must use Bech32 checksum"
    if version != 0 and encoding is not Bech32Encoding.BECH32M:
        return "Version 1+ witness address must use Bech32m checksum"
    try:
        program = _convert_bits(list(data[1:]), 5, 8, False)
    except ValueError:
        return "Invalid padding in Bech32 data section"
    unit = "byte" if len(program) == 1 else "bytes"
    if version == 0:
        return f"Invalid Bech32 v0 address program size ({len(program)} {unit}), per BIP141"
    if version > 16:
        return "Invalid Bech32 address witness version"
    return f"Invalid Bech32 address program size ({len(program)} {unit})"


def locate_bech32_errors(text: str) -> tuple[str, tuple[int, ...]]:
    """Find why a Bech32 string fails and where, as Bitcoin Core's bech32::LocateErrors.

    Up to two substitution errors in the data part are located (the code's guaranteed
    correction radius); locations are indices into `text`.
    """
    if len(text) > BECH32_LENGTH_MAX:
        return "Bech32 string too long", tuple(range(BECH32_LENGTH_MAX, len(text)))
    bad = _bad_characters(text)
    if bad:
        return "Invalid character or mixed case", bad
    separator = text.rfind("1")
    if separator == -1:
        return "Missing separator", ()
    if separator == 0 or separator + BECH32_CHECKSUM_LENGTH >= len(text):
        return "Invalid separator position", (separator,)
    values: list[int] = []
    for position in range(separator + 1, len(text)):
        value = BECH32_CHARSET.find(text[position].lower())
        if value == -1:
            return "Invalid Base 32 character", (position,)
        values.append(value)
    expanded = bech32_hrp_expand(text[:separator].lower())
    best: tuple[int, ...] = ()
    best_encoding: Bech32Encoding | None = None
    for encoding in (Bech32Encoding.BECH32, Bech32Encoding.BECH32M):
        residue = bech32_polymod(expanded + values) ^ encoding.value
        found = _error_positions(residue, len(values)) if residue else ()
        if not best or (found and len(found) < len(best)):
            best = found
            if best:
                best_encoding = encoding
    names = {Bech32Encoding.BECH32: "Invalid Bech32 checksum"}
    names[Bech32Encoding.BECH32M] = "Invalid Bech32m checksum"
    message = names[best_encoding] if best_encoding is not None else "Invalid checksum"
    offset = separator + 1
    return message, tuple(sorted(offset + index for index in best))


def _bad_characters(text: str) -> tuple[int, ...]:
    """Return positions breaking Bech32's character rules (Core's CheckCharacters)."""
    lower = upper = False
    bad: list[int] = []
    for position, character in enumerate(text):
        code = ord(character)
        if "a" <= character <= "z":
            if upper:
                bad.append(position)
            else:
                lower = True
        elif "A" <= character <= "Z":
            if lower:
                bad.append(position)
            else:
                upper = True
        elif code < 33 or code > 126:
            bad.append(position)
    return tuple(bad)


def _polymod_step(value: int) -> int:
    """Advance a checksum difference past one symbol (the linear part of the polymod)."""
    return bech32_polymod([0], value)


def _error_positions(residue: int, length: int) -> tuple[int, ...]:
    """Find one or two data positions whose substitution explains `residue`, or ()."""
    columns: list[list[int]] = [[]] * length
    current = [1 << bit for bit in range(5)]
    for index in range(length - 1, -1, -1):
        columns[index] = current
        current = [_polymod_step(value) for value in current]
    effects: dict[int, int] = {}
    for index in range(length):
        for value in range(1, 32):
            effect = 0
            for bit in range(5):
                if (value >> bit) & 1:
                    effect ^= columns[index][bit]
            effects[effect] = index
    if residue in effects:
        return (effects[residue],)
    for effect, index in effects.items():
        other = effects.get(residue ^ effect)
        if other is not None and other != index:
            return (index, other)
    return ()


# --- the chain ---


def _system_time_s() -> int:
    """Return the wall clock in whole seconds."""
    return int(time.time())


def _merkle_root(hashes: list[bytes]) -> bytes:
    """Return Bitcoin's merkle root of a non-empty list of hashes."""
    return bytes(CBlock.build_merkle_tree_from_txids(hashes)[-1])


def _record_for(block: Any, height: int, chainwork: int, sequence: int) -> BlockRecord:
    """Build the record of a block with its sizes."""
    size = len(block.serialize())
    stripped = len(block.serialize({"include_witness": False}))
    return BlockRecord(
        block=block,
        block_hash=bytes(block.GetHash()),
        height=height,
        chainwork=chainwork,
        sequence=sequence,
        size=size,
        stripped_size=stripped,
        weight=stripped * 3 + size,
    )


class RegtestChain:
    """The block tree, active chain, UTXO set and mempool of one regtest node."""

    def __init__(
        self,
        *,
        txindex: bool = False,
        clock: Callable[[], int] | None = None,
        datacarrier: DatacarrierPolicy | None = None,
    ) -> None:
        """Start a chain holding only the regtest genesis block.

        `datacarrier` is the node's OP_RETURN relay policy (Core 30's default when None).
        """
        self.txindex = txindex
        self.datacarrier = datacarrier or DatacarrierPolicy()
        self._clock = clock or _system_time_s
        self.mock_time_s = 0
        self._records: dict[bytes, BlockRecord] = {}
        self._children: dict[bytes, list[bytes]] = {}
        self._active: list[bytes] = []
        self._utxos: dict[Outpoint, Coin] = {}
        self._mempool: dict[bytes, MempoolEntry] = {}
        self._mempool_spends: dict[Outpoint, bytes] = {}
        self._tx_index: dict[bytes, bytes] = {}
        self._scripts_verified: set[bytes] = set()
        self._events: list[dict[str, str]] = []
        self._sequence = 0
        self._out_of_initial_download = False
        genesis = _record_for(GENESIS_BLOCK, 0, block_work(GENESIS_BLOCK.nBits), 0)
        genesis.undo = ()
        self._records[genesis.block_hash] = genesis
        self._active.append(genesis.block_hash)

    # -- time and tip --

    def now_s(self) -> int:
        """Return the node's time: the mock time when set, else the clock."""
        return self.mock_time_s or self._clock()

    @property
    def tip(self) -> BlockRecord:
        """Return the record of the active tip."""
        return self._records[self._active[-1]]

    @property
    def height(self) -> int:
        """Return the height of the active tip."""
        return len(self._active) - 1

    @property
    def genesis_hash(self) -> bytes:
        """Return the genesis block hash."""
        return self._active[0]

    def record(self, block_hash: bytes) -> BlockRecord | None:
        """Return the record of a known block, or None."""
        return self._records.get(block_hash)

    def record_at(self, height: int) -> BlockRecord:
        """Return the active block at `height` (0 <= height <= self.height)."""
        return self._records[self._active[height]]

    def is_active(self, record: BlockRecord) -> bool:
        """Tell whether a block is on the active chain."""
        return record.height < len(self._active) and self._active[record.height] == (
            record.block_hash
        )

    def next_active(self, record: BlockRecord) -> BlockRecord | None:
        """Return the active block after `record`, or None for the tip or off-chain blocks."""
        if not self.is_active(record) or record.height == self.height:
            return None
        return self.record_at(record.height + 1)

    def active_records(self) -> Iterator[BlockRecord]:
        """Yield the active chain's blocks from genesis to tip."""
        for block_hash in list(self._active):
            yield self._records[block_hash]

    def median_time_past(self, record: BlockRecord) -> int:
        """Return the median time of `record` and up to 10 ancestors (BIP-113)."""
        times: list[int] = []
        current: BlockRecord | None = record
        while current is not None and len(times) < MEDIAN_TIME_SPAN_BLOCKS:
            times.append(current.block.nTime)
            current = self._records.get(current.parent_hash) if current.height else None
        times.sort()
        return times[len(times) // 2]

    def is_initial_block_download(self) -> bool:
        """Tell whether the node would still report IBD (tip older than 24 hours); latches off."""
        if self._out_of_initial_download:
            return False
        if self.tip.block.nTime < self.now_s() - TIP_AGE_MAX_S:
            return True
        self._out_of_initial_download = True
        return False

    def size_on_disk(self) -> int:
        """Return the bytes the blocks would take in blk files (8-byte header each)."""
        return sum(record.size + 8 for record in self._records.values())

    # -- coins and transactions --

    def utxo_items(self) -> list[tuple[Outpoint, Coin]]:
        """Return a copy of the confirmed UTXO set."""
        return list(self._utxos.items())

    def unspent_coin(self, outpoint: Outpoint, include_mempool: bool) -> Coin | None:
        """Return an unspent output as gettxout sees it, or None if missing or spent."""
        if not include_mempool:
            return self._utxos.get(outpoint)
        if outpoint in self._mempool_spends:
            return None
        return self.available_coin(outpoint)

    def available_coin(self, outpoint: Outpoint) -> Coin | None:
        """Return a confirmed or mempool output, ignoring mempool spends."""
        coin = self._utxos.get(outpoint)
        if coin is not None:
            return coin
        entry = self._mempool.get(outpoint[0])
        if entry is None or outpoint[1] >= len(entry.tx.vout):
            return None
        output = entry.tx.vout[outpoint[1]]
        if is_unspendable(bytes(output.scriptPubKey)):
            return None
        return Coin(output.nValue, bytes(output.scriptPubKey), MEMPOOL_HEIGHT, False)

    def mempool_entries(self) -> list[MempoolEntry]:
        """Return the mempool in acceptance order (parents before children)."""
        return list(self._mempool.values())

    def mempool_entry(self, txid: bytes) -> MempoolEntry | None:
        """Return a mempool entry by txid, or None."""
        return self._mempool.get(txid)

    def mempool_spender(self, outpoint: Outpoint) -> bytes | None:
        """Return the txid of the mempool transaction spending an outpoint, or None."""
        return self._mempool_spends.get(outpoint)

    def mempool_ancestors(self, txid: bytes) -> list[MempoolEntry]:
        """Return a mempool transaction and its in-mempool ancestors."""
        found: dict[bytes, MempoolEntry] = {}
        pending = [txid]
        while pending and len(found) <= len(self._mempool):
            current = pending.pop()
            entry = self._mempool.get(current)
            if entry is None or current in found:
                continue
            found[current] = entry
            pending.extend(bytes(txin.prevout.hash) for txin in entry.tx.vin)
        return list(found.values())

    def indexed_block_hash(self, txid: bytes) -> bytes | None:
        """Return the active block holding a txid when -txindex is on, else None."""
        return self._tx_index.get(txid) if self.txindex else None

    @staticmethod
    def find_in_block(record: BlockRecord, txid: bytes) -> int | None:
        """Return the position of a txid in a block, or None."""
        for position, tx in enumerate(record.block.vtx):
            if bytes(tx.GetTxid()) == txid:
                return position
        return None

    # -- mining --

    def mine(self, script_pubkey: bytes, count: int, tries_max: int) -> list[bytes]:
        """Mine up to `count` blocks paying `script_pubkey`, including mempool transactions.

        Stops early, as Core's generatetoaddress does, when `tries_max` nonces have been
        tried in total. Returns the new block hashes.

        Raises:
            ChainError: a mined block failed to connect (an internal inconsistency).
        """
        hashes: list[bytes] = []
        tries_left = tries_max
        for _ in range(count):
            block, tries_used = self._create_block(script_pubkey, tries_left)
            tries_left -= tries_used
            if block is None:
                break
            self._add_block(block)
            self._events.append({"block": block.serialize().hex()})
            if self.tip.block_hash != bytes(block.GetHash()):
                raise ChainError("a freshly mined block did not become the tip")
            hashes.append(bytes(block.GetHash()))
        return hashes

    def _create_block(self, script_pubkey: bytes, tries_max: int) -> tuple[Any, int]:
        """Assemble and grind a block on the tip; (None, tries) if the tries ran out."""
        tip = self.tip
        height = tip.height + 1
        time_s = max(self.median_time_past(tip) + 1, self.now_s())
        entries = self._select_for_block()
        fees = sum(entry.fee_sats for entry in entries)
        txs = [entry.tx for entry in entries]
        coinbase = _coinbase(height, script_pubkey, block_subsidy_sats(height) + fees, txs)
        vtx = [coinbase, *txs]
        root = _merkle_root([bytes(tx.GetTxid()) for tx in vtx])
        target = compact_to_target(REGTEST_BITS)
        for nonce in range(min(tries_max, NONCE_MAX + 1)):
            header = CBlockHeader(BLOCK_VERSION, tip.block_hash, root, time_s, REGTEST_BITS, nonce)
            block_hash = bytes(header.GetHash())
            # a block identical to a known one (say, just invalidated) would be a duplicate
            if int.from_bytes(block_hash, "little") <= target and block_hash not in self._records:
                block = CBlock(
                    BLOCK_VERSION, tip.block_hash, root, time_s, REGTEST_BITS, nonce, vtx
                )
                return block, nonce + 1
        return None, min(tries_max, NONCE_MAX + 1)

    def _select_for_block(self) -> list[MempoolEntry]:
        """Pick mempool transactions in order within the block weight, parents first."""
        chosen: list[MempoolEntry] = []
        skipped: set[bytes] = set()
        weight_left = BLOCK_WEIGHT_MAX - COINBASE_WEIGHT_RESERVED
        for entry in self._mempool.values():
            parents = {bytes(txin.prevout.hash) for txin in entry.tx.vin}
            if parents & skipped or entry.weight > weight_left:
                skipped.add(entry.txid)
                continue
            chosen.append(entry)
            weight_left -= entry.weight
        return chosen

    # -- block tree and reorganisation --

    def _add_block(self, block: Any) -> BlockRecord:
        """Store a block whose parent is known and activate the best chain.

        Raises:
            BlockInvalid: the parent is unknown, or proof of work or merkle root is wrong.
        """
        parent = self._records.get(bytes(block.hashPrevBlock))
        if parent is None:
            raise BlockInvalid("prev-blk-not-found")
        if block.nBits != REGTEST_BITS:
            raise BlockInvalid("bad-diffbits")
        if int.from_bytes(block.GetHash(), "little") > compact_to_target(block.nBits):
            raise BlockInvalid("high-hash")
        if _merkle_root([bytes(tx.GetTxid()) for tx in block.vtx]) != bytes(block.hashMerkleRoot):
            raise BlockInvalid("bad-txnmrklroot")
        existing = self._records.get(bytes(block.GetHash()))
        if existing is not None:
            return existing
        self._sequence += 1
        record = _record_for(
            block, parent.height + 1, parent.chainwork + block_work(block.nBits), self._sequence
        )
        record.failed_parent = parent.invalid
        self._records[record.block_hash] = record
        self._children.setdefault(parent.block_hash, []).append(record.block_hash)
        self._activate_best_chain()
        return record

    def invalidate_block(self, block_hash: bytes) -> None:
        """Mark a block and its descendants invalid and move to the best remaining chain.

        Raises:
            ChainError: the block is the genesis block.
        """
        record = self._records[block_hash]
        if record.height == 0:
            raise ChainError("Genesis block cannot be invalidated")
        record.failed = True
        for descendant in self._descendants(record):
            descendant.failed_parent = True
        resurrected: list[Any] = []
        if self.is_active(record):
            while self.height >= record.height:
                resurrected[:0] = self._disconnect_tip()
        self._events.append({"invalidate": hash_to_hex(block_hash)})
        self._activate_best_chain(resurrected)

    def reconsider_block(self, block_hash: bytes) -> None:
        """Clear invalid marks on a block, its ancestors and descendants; reactivate."""
        record = self._records[block_hash]
        current: BlockRecord | None = record
        for _ in range(BLOCKS_MAX):
            if current is None:
                break
            current.failed = current.failed_parent = False
            current = self._records.get(current.parent_hash) if current.height else None
        for descendant in self._descendants(record):
            descendant.failed = descendant.failed_parent = False
        self._events.append({"reconsider": hash_to_hex(block_hash)})
        self._activate_best_chain()

    def _descendants(self, record: BlockRecord) -> list[BlockRecord]:
        """Return every known block built on `record`."""
        found: list[BlockRecord] = []
        pending = list(self._children.get(record.block_hash, ()))
        while pending and len(found) < BLOCKS_MAX:
            child = self._records[pending.pop()]
            found.append(child)
            pending.extend(self._children.get(child.block_hash, ()))
        return found

    def _best_candidate(self) -> BlockRecord:
        """Return the valid block with the most work, the first seen on a tie."""
        valid = (record for record in self._records.values() if not record.invalid)
        return max(valid, key=lambda record: (record.chainwork, -record.sequence))

    def _activate_best_chain(self, resurrected: list[Any] | None = None) -> None:
        """Reorganise to the best valid chain and refresh the mempool."""
        disconnected = list(resurrected or [])
        for _ in range(BLOCKS_MAX):
            best = self._best_candidate()
            if best.block_hash == self.tip.block_hash:
                break
            path = self._path_from_fork(best)
            fork_height = path[0].height - 1
            while self.height > fork_height:
                disconnected[:0] = self._disconnect_tip()
            if self._connect_path(path):
                break
        self._refresh_mempool(disconnected)

    def _path_from_fork(self, record: BlockRecord) -> list[BlockRecord]:
        """Return the blocks from just after the fork with the active chain up to `record`."""
        path: list[BlockRecord] = []
        current = record
        for _ in range(BLOCKS_MAX):
            if self.is_active(current):
                break
            path.append(current)
            current = self._records[current.parent_hash]
        path.reverse()
        return path

    def _connect_path(self, path: list[BlockRecord]) -> bool:
        """Connect blocks in order; on a failure mark it invalid and return False."""
        for record in path:
            try:
                self._connect(record)
            except BlockInvalid:
                record.failed = True
                for descendant in self._descendants(record):
                    descendant.failed_parent = True
                return False
        return True

    def _connect(self, record: BlockRecord) -> None:
        """Spend and create the coins of a block on top of the tip and make it the tip.

        Raises:
            BlockInvalid: an input is missing or immature, values do not add up, or the
                coinbase pays too much.
        """
        block = record.block
        if not block.vtx or not block.vtx[0].is_coinbase():
            raise BlockInvalid("bad-cb-missing")
        view: dict[Outpoint, Coin | None] = {}
        undo: list[tuple[Coin, ...]] = []
        fees = 0
        for tx in block.vtx[1:]:
            spent = self._spend_inputs(tx, view, record.height)
            value_in = sum(coin.value_sats for coin in spent)
            value_out = sum(output.nValue for output in tx.vout)
            if value_in < value_out:
                raise BlockInvalid("bad-txns-in-belowout")
            fees += value_in - value_out
            undo.append(spent)
            _add_outputs(view, tx, record.height, coinbase=False)
        coinbase = block.vtx[0]
        if (
            sum(output.nValue for output in coinbase.vout)
            > block_subsidy_sats(record.height) + fees
        ):
            raise BlockInvalid("bad-cb-amount")
        _add_outputs(view, coinbase, record.height, coinbase=True)
        for outpoint, coin in view.items():
            if coin is None:
                self._utxos.pop(outpoint, None)
            else:
                self._utxos[outpoint] = coin
        record.undo = tuple(undo)
        self._active.append(record.block_hash)
        for tx in block.vtx:
            self._tx_index[bytes(tx.GetTxid())] = record.block_hash

    def _spend_inputs(
        self, tx: Any, view: dict[Outpoint, Coin | None], height: int
    ) -> tuple[Coin, ...]:
        """Spend a block transaction's inputs in `view`; return the spent coins.

        Raises:
            BlockInvalid: an input is missing or spent, or spends an immature coinbase.
        """
        spent: list[Coin] = []
        for txin in tx.vin:
            outpoint = (bytes(txin.prevout.hash), txin.prevout.n)
            coin = view[outpoint] if outpoint in view else self._utxos.get(outpoint)
            if coin is None:
                raise BlockInvalid("bad-txns-inputs-missingorspent")
            if coin.coinbase and height - coin.height < COINBASE_MATURITY_BLOCKS:
                raise BlockInvalid("bad-txns-premature-spend-of-coinbase")
            view[outpoint] = None
            spent.append(coin)
        return tuple(spent)

    def _disconnect_tip(self) -> list[Any]:
        """Undo the tip block; return its non-coinbase transactions for the mempool."""
        record = self.tip
        if record.undo is None:
            raise ChainError("tip block has no undo data")
        block = record.block
        for position in range(len(block.vtx) - 1, -1, -1):
            tx = block.vtx[position]
            txid = bytes(tx.GetTxid())
            for index in range(len(tx.vout)):
                self._utxos.pop((txid, index), None)
            self._tx_index.pop(txid, None)
            if position == 0:
                continue
            for txin, coin in zip(tx.vin, record.undo[position - 1], strict=True):
                self._utxos[(bytes(txin.prevout.hash), txin.prevout.n)] = coin
        self._active.pop()
        return list(block.vtx[1:])

    # -- mempool --

    def _refresh_mempool(self, disconnected: list[Any]) -> None:
        """Rebuild the mempool: disconnected transactions first, then the old mempool.

        Whatever no longer fits (confirmed, conflicting, immature, missing inputs) is dropped,
        as Bitcoin Core does after a block or a reorganisation.
        """
        old = [entry.tx for entry in self._mempool.values()]
        times = {entry.txid: entry.time_s for entry in self._mempool.values()}
        self._mempool.clear()
        self._mempool_spends.clear()
        for tx in [*disconnected, *old]:
            if bytes(tx.GetTxid()) in self._mempool:
                continue
            try:
                self._accept(tx, bypass_fee=True, time_s=times.get(bytes(tx.GetTxid())))
            except ChainError:
                continue

    def accept_transaction(self, tx: Any, fee_rate_max_sat_per_kvb: int = 0) -> MempoolEntry:
        """Validate a transaction and add it to the mempool (sendrawtransaction's path).

        A transaction already in the mempool is returned as it is. `fee_rate_max_sat_per_kvb`
        of 0 means no limit.

        Raises:
            TransactionRejected: consensus or policy refuses it (reason as Bitcoin Core).
            MissingInputs: an input does not exist or is already spent in a block.
            FeeTooHigh: the fee is above `fee_rate_max_sat_per_kvb` for its size.
        """
        existing = self._mempool.get(bytes(tx.GetTxid()))
        if existing is not None:
            return existing
        entry = self._accept(tx, fee_rate_max_sat_per_kvb=fee_rate_max_sat_per_kvb)
        return entry

    def outputs_confirmed(self, tx: Any) -> bool:
        """Tell whether any output of `tx` is in the UTXO set (it is already confirmed)."""
        txid = bytes(tx.GetTxid())
        return any((txid, index) in self._utxos for index in range(len(tx.vout)))

    def _accept(
        self,
        tx: Any,
        *,
        bypass_fee: bool = False,
        fee_rate_max_sat_per_kvb: int = 0,
        time_s: int | None = None,
    ) -> MempoolEntry:
        """Run the mempool checks in Bitcoin Core's order and insert the transaction."""
        txid = bytes(tx.GetTxid())
        check_transaction(tx)
        if tx.is_coinbase():
            raise TransactionRejected("coinbase")
        _check_standard(tx, self.datacarrier)
        if not self._is_final(tx):
            raise TransactionRejected("non-final")
        if self.outputs_confirmed(tx):
            raise TransactionRejected("txn-already-known")
        coins = self._input_coins(tx)
        conflicts = self._conflicts(tx)
        if not self._sequence_locks_ok(tx, coins):
            raise TransactionRejected("non-BIP68-final")
        _check_amounts(tx, coins, self.height + 1)
        fee = sum(coin.value_sats for coin in coins) - sum(out.nValue for out in tx.vout)
        _, _, weight = transaction_sizes(tx)
        vsize = (weight + 3) // 4
        minimum = fee_for_size_sats(MIN_RELAY_FEE_SAT_PER_KVB, vsize)
        if not bypass_fee and fee < minimum:
            raise TransactionRejected(f"min relay fee not met, {fee} < {minimum}")
        evicted = self._check_replacement(tx, txid, fee, vsize, conflicts) if conflicts else []
        self._check_scripts(tx, coins)
        if fee_rate_max_sat_per_kvb and fee > fee_for_size_sats(fee_rate_max_sat_per_kvb, vsize):
            raise FeeTooHigh("Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)")
        for old in evicted:
            self._remove_from_mempool(old)
        entry = MempoolEntry(
            tx, txid, bytes(tx.GetHash()), fee, vsize, weight, time_s or self.now_s()
        )
        self._mempool[txid] = entry
        for txin in tx.vin:
            self._mempool_spends[(bytes(txin.prevout.hash), txin.prevout.n)] = txid
        return entry

    def _input_coins(self, tx: Any) -> list[Coin]:
        """Return the coins a transaction spends (mempool spends allowed, for replacement).

        Raises:
            MissingInputs: an input is neither confirmed nor created by the mempool.
        """
        coins: list[Coin] = []
        for txin in tx.vin:
            coin = self.available_coin((bytes(txin.prevout.hash), txin.prevout.n))
            if coin is None:
                raise MissingInputs("bad-txns-inputs-missingorspent")
            coins.append(coin)
        return coins

    def _conflicts(self, tx: Any) -> set[bytes]:
        """Return the mempool transactions spending an input of `tx`."""
        found: set[bytes] = set()
        for txin in tx.vin:
            spender = self._mempool_spends.get((bytes(txin.prevout.hash), txin.prevout.n))
            if spender is not None:
                found.add(spender)
        return found

    def _mempool_descendants(self, txids: set[bytes]) -> set[bytes]:
        """Return `txids` and every mempool transaction spending their outputs, transitively."""
        found = set(txids)
        pending = list(txids)
        while pending and len(found) <= len(self._mempool):
            entry = self._mempool.get(pending.pop())
            if entry is None:
                continue
            for index in range(len(entry.tx.vout)):
                spender = self._mempool_spends.get((entry.txid, index))
                if spender is not None and spender not in found:
                    found.add(spender)
                    pending.append(spender)
        return found

    def _check_replacement(
        self, tx: Any, txid: bytes, fee: int, vsize: int, conflicts: set[bytes]
    ) -> list[bytes]:
        """Apply full-RBF rules (BIP-125 rules 3, 4, 5 and the feerate rule).

        Returns the txids to evict.

        Raises:
            TransactionRejected: the replacement pays too little or evicts too much.
        """
        evicted = self._mempool_descendants(conflicts)
        if len(evicted) > REPLACEMENT_EVICTIONS_MAX:
            raise TransactionRejected(
                f"too many potential replacements, rejecting replacement {hash_to_hex(txid)}; "
                f"too many potential replacements ({len(evicted)} > {REPLACEMENT_EVICTIONS_MAX})"
            )
        if {bytes(txin.prevout.hash) for txin in tx.vin} & evicted:
            raise TransactionRejected(
                f"bad-txns-spends-conflicting-tx, {hash_to_hex(txid)} spends conflicting "
                "transaction"
            )
        for conflict in conflicts:
            old = self._mempool[conflict]
            if fee * old.vsize <= old.fee_sats * vsize:
                raise TransactionRejected(
                    f"insufficient fee, rejecting replacement {hash_to_hex(txid)}; new feerate "
                    f"{_feerate_text(fee, vsize)} <= old feerate "
                    f"{_feerate_text(old.fee_sats, old.vsize)}"
                )
        old_fees = sum(self._mempool[old].fee_sats for old in evicted)
        if fee < old_fees:
            raise TransactionRejected(
                f"insufficient fee, rejecting replacement {hash_to_hex(txid)}, less fees than "
                f"conflicting txs; {format_money(fee)} < {format_money(old_fees)}"
            )
        relay = fee_for_size_sats(INCREMENTAL_RELAY_FEE_SAT_PER_KVB, vsize)
        if fee - old_fees < relay:
            raise TransactionRejected(
                f"insufficient fee, rejecting replacement {hash_to_hex(txid)}, not enough "
                f"additional fees to relay; {format_money(fee - old_fees)} < {format_money(relay)}"
            )
        return sorted(evicted)

    def _remove_from_mempool(self, txid: bytes) -> None:
        """Drop one transaction from the mempool."""
        entry = self._mempool.pop(txid, None)
        if entry is None:
            return
        for txin in entry.tx.vin:
            self._mempool_spends.pop((bytes(txin.prevout.hash), txin.prevout.n), None)

    def _is_final(self, tx: Any) -> bool:
        """Tell whether a transaction may enter the next block by its lock time (IsFinalTx)."""
        if tx.nLockTime == 0:
            return True
        height = self.height + 1
        limit = height if tx.nLockTime < LOCKTIME_THRESHOLD else self.median_time_past(self.tip)
        if tx.nLockTime < limit:
            return True
        return all(txin.nSequence == SEQUENCE_FINAL for txin in tx.vin)

    def _sequence_locks_ok(self, tx: Any, coins: list[Coin]) -> bool:
        """Check BIP-68 relative lock times against the next block."""
        if tx.nVersion < 2:
            return True
        next_height = self.height + 1
        height_min = -1
        time_min = -1
        for txin, coin in zip(tx.vin, coins, strict=True):
            sequence = txin.nSequence
            if sequence & SEQUENCE_LOCKTIME_DISABLE_FLAG:
                continue
            coin_height = next_height if coin.height == MEMPOOL_HEIGHT else coin.height
            amount = sequence & SEQUENCE_LOCKTIME_MASK
            if sequence & SEQUENCE_LOCKTIME_TYPE_FLAG:
                base = self.median_time_past(self.record_at(max(coin_height - 1, 0)))
                time_min = max(time_min, base + (amount << SEQUENCE_LOCKTIME_GRANULARITY_BITS) - 1)
            else:
                height_min = max(height_min, coin_height + amount - 1)
        return height_min < next_height and time_min < self.median_time_past(self.tip)

    def _check_scripts(self, tx: Any, coins: list[Coin]) -> None:
        """Verify every input script, remembering transactions already verified.

        Raises:
            TransactionRejected: a script fails or cannot be verified by the sandbox.
        """
        wtxid = bytes(tx.GetHash())
        if wtxid in self._scripts_verified:
            return
        for index, coin in enumerate(coins):
            reason = input_script_error(tx, index, coin)
            if reason is not None:
                raise TransactionRejected(reason)
        if len(self._scripts_verified) >= SCRIPT_CACHE_ENTRIES_MAX:
            self._scripts_verified.clear()
        self._scripts_verified.add(wtxid)

    # -- snapshot --

    def snapshot(self) -> dict[str, Any]:
        """Return the chain as JSON-ready data: the event log, mempool and mock time."""
        return {
            "events": list(self._events),
            "mempool": [entry.tx.serialize().hex() for entry in self._mempool.values()],
            "mock_time_s": self.mock_time_s,
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Replay a snapshot into a fresh chain.

        Raises:
            ChainError: the snapshot is malformed or a block does not validate.
        """
        if self.height != 0 or not isinstance(data, dict):
            raise ChainError("a snapshot can only be restored into a fresh chain")
        self.mock_time_s = int(data.get("mock_time_s", 0))
        events = data.get("events", [])
        if not isinstance(events, list) or len(events) > BLOCKS_MAX:
            raise ChainError("snapshot events must be a list")
        for event in events:
            self._replay(event)
        for hex_tx in data.get("mempool", []):
            try:
                self._accept(CTransaction.deserialize(bytes.fromhex(hex_tx)), bypass_fee=True)
            except (ChainError, ValueError, SerializationError):
                continue

    def _replay(self, event: Any) -> None:
        """Apply one snapshot event.

        Raises:
            ChainError: the event is malformed or refers to an unknown block.
        """
        try:
            if "block" in event:
                block = CBlock.deserialize(bytes.fromhex(event["block"]))
                self._add_block(block)
                self._events.append({"block": event["block"]})
                return
            if "invalidate" in event:
                self.invalidate_block(self._known_block(event["invalidate"]))
                return
            if "reconsider" in event:
                self.reconsider_block(self._known_block(event["reconsider"]))
                return
        except (ValueError, TypeError, KeyError, SerializationError) as error:
            raise ChainError(f"snapshot event is malformed: {error}") from error
        raise ChainError("snapshot event of unknown kind")

    def _known_block(self, display_hex: str) -> bytes:
        """Return the internal hash of a known block given in display hex.

        Raises:
            ChainError: no such block.
        """
        block_hash = bytes.fromhex(display_hex)[::-1]
        if block_hash not in self._records:
            raise ChainError(f"snapshot refers to an unknown block {display_hex}")
        return block_hash


def _feerate_text(fee_sats: int, vsize: int) -> str:
    """Write a fee rate in BTC/kvB as Core's CFeeRate::ToString does."""
    rate = fee_sats * 1000 // max(vsize, 1)
    whole, fraction = divmod(rate, COIN)
    return f"{whole}.{fraction:08d} BTC/kvB"


def _add_outputs(view: dict[Outpoint, Coin | None], tx: Any, height: int, coinbase: bool) -> None:
    """Add a transaction's spendable outputs to a coin view."""
    txid = bytes(tx.GetTxid())
    for index, output in enumerate(tx.vout):
        script = bytes(output.scriptPubKey)
        if not is_unspendable(script):
            view[(txid, index)] = Coin(output.nValue, script, height, coinbase)


def _coinbase(height: int, script_pubkey: bytes, value_sats: int, txs: list[Any]) -> Any:
    """Build a coinbase as Bitcoin Core's miner does: BIP-34 height, witness commitment."""
    witness_root = _merkle_root([bytes(32), *(bytes(tx.GetHash()) for tx in txs)])
    commitment = bytes(Hash(witness_root + WITNESS_RESERVED_VALUE))
    script_sig = CScript([height, OP_0])
    return CTransaction(
        [CTxIn(COutPoint(), script_sig, 0xFFFFFFFE)],
        [
            CTxOut(value_sats, CScript(script_pubkey)),
            CTxOut(0, CScript(WITNESS_COMMITMENT_HEADER + commitment)),
        ],
        nLockTime=height - 1,
        nVersion=2,
        witness=CTxWitness([CTxInWitness(CScriptWitness([WITNESS_RESERVED_VALUE]))]),
    )


def check_transaction(tx: Any) -> None:
    """Context-free consensus checks (Bitcoin Core's CheckTransaction).

    Raises:
        TransactionRejected: with Core's reject reason.
    """
    if not tx.vin:
        raise TransactionRejected("bad-txns-vin-empty")
    if not tx.vout:
        raise TransactionRejected("bad-txns-vout-empty")
    if len(tx.serialize({"include_witness": False})) * 4 > BLOCK_WEIGHT_MAX:
        raise TransactionRejected("bad-txns-oversize")
    total = 0
    for output in tx.vout:
        if output.nValue < 0:
            raise TransactionRejected("bad-txns-vout-negative")
        if output.nValue > MONEY_MAX_SATS:
            raise TransactionRejected("bad-txns-vout-toolarge")
        total += output.nValue
        if total > MONEY_MAX_SATS:
            raise TransactionRejected("bad-txns-txouttotal-toolarge")
    outpoints = {(bytes(txin.prevout.hash), txin.prevout.n) for txin in tx.vin}
    if len(outpoints) != len(tx.vin):
        raise TransactionRejected("bad-txns-inputs-duplicate")
    if not tx.is_coinbase() and any(txin.prevout.is_null() for txin in tx.vin):
        raise TransactionRejected("bad-txns-prevout-null")


def dust_threshold_sats(script: bytes) -> int:
    """Return the smallest non-dust value of an output (Core's GetDustThreshold)."""
    if is_unspendable(script):
        return 0
    output_size = 8 + len(_compact_size(len(script))) + len(script)
    spend_size = 67 if witness_program(script) is not None else 148
    return fee_for_size_sats(DUST_RELAY_FEE_SAT_PER_KVB, output_size + spend_size)


def _compact_size(value: int) -> bytes:
    """Encode a CompactSize integer."""
    if value < 0xFD:
        return bytes([value])
    if value <= 0xFFFF:
        return b"\xfd" + value.to_bytes(2, "little")
    if value <= 0xFFFFFFFF:
        return b"\xfe" + value.to_bytes(4, "little")
    return b"\xff" + value.to_bytes(8, "little")


def _check_standard(tx: Any, datacarrier: DatacarrierPolicy) -> None:
    """Policy checks on the transaction alone (Core's IsStandardTx and size floor).

    Raises:
        TransactionRejected: with Core's reject reason.
    """
    if not 1 <= tx.nVersion <= TX_STANDARD_VERSION_MAX:
        raise TransactionRejected("version")
    _, stripped, weight = transaction_sizes(tx)
    if weight > TX_STANDARD_WEIGHT_MAX:
        raise TransactionRejected("tx-size")
    for txin in tx.vin:
        script_sig = bytes(txin.scriptSig)
        if len(script_sig) > SCRIPT_SIG_SIZE_MAX:
            raise TransactionRejected("scriptsig-size")
        try:
            pushes_only = is_push_only(parse_script(script_sig))
        except ScriptParseError:
            pushes_only = False
        if not pushes_only:
            raise TransactionRejected("scriptsig-not-pushonly")
    datacarrier_bytes_left = datacarrier.bytes_max
    for output in tx.vout:
        script = bytes(output.scriptPubKey)
        kind = classify_script(script).kind
        if kind == "nonstandard":
            raise TransactionRejected("scriptpubkey")
        if kind == "nulldata":
            if len(script) > datacarrier_bytes_left:
                raise TransactionRejected(datacarrier.reject_reason())
            if datacarrier.aggregate:
                datacarrier_bytes_left -= len(script)
        if output.nValue < dust_threshold_sats(script):
            raise TransactionRejected("dust")
    if stripped < TX_NON_WITNESS_SIZE_MIN:
        raise TransactionRejected("tx-size-small")


def _check_amounts(tx: Any, coins: list[Coin], spend_height: int) -> None:
    """Check coinbase maturity and that inputs cover outputs (Core's CheckTxInputs).

    Raises:
        TransactionRejected: with Core's reject reason and debug text.
    """
    for coin in coins:
        if coin.coinbase and spend_height - coin.height < COINBASE_MATURITY_BLOCKS:
            raise TransactionRejected(
                "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth "
                f"{spend_height - coin.height}"
            )
    value_in = sum(coin.value_sats for coin in coins)
    value_out = sum(output.nValue for output in tx.vout)
    if value_in < value_out:
        raise TransactionRejected(
            f"bad-txns-in-belowout, value in ({format_money(value_in)}) < value out "
            f"({format_money(value_out)})"
        )


def _mandatory(message: str) -> str:
    """Word a consensus script failure as Core does."""
    return f"mandatory-script-verify-flag-failed ({message})"


def _policy(message: str) -> str:
    """Word a policy-only script failure as Core does."""
    return f"non-mandatory-script-verify-flag ({message})"


_EVAL_FALSE: Final = (
    "Script evaluated without error but finished with a false/empty top stack element"
)


def input_script_error(tx: Any, index: int, coin: Coin) -> str | None:
    """Return why input `index` of `tx` fails to spend `coin`, or None if it verifies."""
    info = classify_script(coin.script_pubkey)
    script_sig = bytes(tx.vin[index].scriptSig)
    witness = witness_stack(tx, index)
    if info.kind == "witness_v0_keyhash":
        return _p2wpkh_error(tx, index, coin, info.program, witness)
    if info.kind == "anchor":
        if script_sig:
            return _mandatory("Witness requires empty scriptSig")
        return _policy("Witness version reserved for soft-fork upgrades") if witness else None
    if info.witness_version is not None:
        if info.kind == "witness_unknown":
            return "bad-txns-nonstandard-inputs"
        return _policy(f"the sandbox stand-in cannot verify {info.kind} spends")
    if info.kind == "nonstandard":
        return "bad-txns-nonstandard-inputs"
    if info.kind == "scripthash":
        try:
            pushes = parse_script(script_sig)
        except ScriptParseError:
            pushes = []
        redeem = pushes[-1].data if pushes and pushes[-1].data is not None else b""
        if witness_program(redeem) is not None:
            return _policy("the sandbox stand-in cannot verify nested segwit spends")
    if witness:
        return _mandatory("Witness provided for non-witness script")
    try:
        VerifyScript(
            CScript(script_sig), CScript(coin.script_pubkey), tx, index, (SCRIPT_VERIFY_P2SH,)
        )
    except Exception as error:  # python-bitcoinlib raises many unrelated types; all mean "fails"
        return _mandatory(str(error) or type(error).__name__)
    return None


def _p2wpkh_error(
    tx: Any, index: int, coin: Coin, program: bytes, witness: tuple[bytes, ...]
) -> str | None:
    """Verify a P2WPKH spend (BIP-143 signature hash, ECDSA over secp256k1)."""
    if bytes(tx.vin[index].scriptSig):
        return _mandatory("Witness requires empty scriptSig")
    if not witness:
        return _mandatory("Witness program was passed an empty witness")
    if len(witness) != 2 or hash160(witness[1]) != program:
        return _mandatory("Witness program hash mismatch")
    signature, public_key = witness
    if not signature:
        return _mandatory(_EVAL_FALSE)
    if not is_valid_signature_encoding(signature):
        return _mandatory("Non-canonical DER signature")
    policy: str | None = None
    if not is_strict_signature(signature):
        policy = "Signature hash type missing or not understood"
    elif not is_low_s(signature):
        policy = "Non-canonical signature: S value is unnecessarily high"
    elif len(public_key) != 33 or public_key[0] not in (2, 3):
        policy = "Using non-compressed keys in segwit"
    digest = SignatureHash(
        CScript(p2pkh_script(program)),
        tx,
        index,
        signature[-1],
        amount=coin.value_sats,
        sigversion=SIGVERSION_WITNESS_V0,
    )
    key = CPubKey(public_key)
    if not key.is_fullyvalid or not key.verify(digest, signature[:-1]):
        return _mandatory(_EVAL_FALSE)
    return _policy(policy) if policy else None
