"""Descriptors and a minimal descriptor wallet for the Bitcoin sandbox.

Descriptors (BIP-380 checksums; BIP-385 `addr()`/`raw()`; BIP-381/382/386 `pk`, `pkh`,
`wpkh`, `sh`, `tr`, `rawtr` over hex public keys with optional key origin) are parsed and
written in Bitcoin Core's canonical form. Extended keys (xpub/tprv...), ranged descriptors,
`combo`, `multi`, `wsh` and script trees are refused with a message naming the limitation.

Wallets are of two kinds, as `createwallet` makes them:
- watch-only (`disable_private_keys`): filled by `importdescriptors`; what they own is the
  set of scripts of the imported descriptors, seen from their timestamp on.
- signing: a random BIP-32 seed with BIP-84 (`wpkh`) and BIP-44 (`pkh`) accounts on coin
  type 1; `getnewaddress` hands out receive keys, change comes from the internal chain, and
  the wallet funds and signs P2WPKH and P2PKH spends with python-bitcoinlib's ECDSA.

A wallet keeps no transaction list: balances and unspent outputs are computed from the
chain and mempool each time, counting a confirmed output only if its block is no older than
the owning descriptor's timestamp minus Bitcoin Core's two-hour rescan window.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from bitcoin.core import (  # type: ignore[import-untyped]
    CMutableTransaction,
    CMutableTxIn,
    COutPoint,
    CTransaction,
    CTxInWitness,
    CTxOut,
    CTxWitness,
)
from bitcoin.core.script import (  # type: ignore[import-untyped]
    SIGVERSION_BASE,
    SIGVERSION_WITNESS_V0,
    CScript,
    CScriptWitness,
    SignatureHash,
)
from bitcoin.wallet import CKey  # type: ignore[import-untyped]

from sequestra.chains.bitcoin import descriptor as bip380
from sequestra_sandbox.bitcoin.chain import (
    COINBASE_MATURITY_BLOCKS,
    MEMPOOL_HEIGHT,
    SECP256K1_ORDER,
    AddressDecodeError,
    Coin,
    Outpoint,
    RegtestChain,
    classify_script,
    decode_address,
    dust_threshold_sats,
    encode_base58check,
    fee_for_size_sats,
    hash160,
    hash_to_hex,
    input_script_error,
    p2pkh_script,
    p2sh_script,
    parse_script,
    segwit_script,
    transaction_sizes,
)

# --- RPC error codes the wallet raises (src/rpc/protocol.h) ---
RPC_INVALID_PARAMETER: Final = -8
RPC_INVALID_ADDRESS_OR_KEY: Final = -5
RPC_WALLET_ERROR: Final = -4
RPC_WALLET_INSUFFICIENT_FUNDS: Final = -6
RPC_WALLET_NOT_FOUND: Final = -18
RPC_WALLET_NOT_SPECIFIED: Final = -19
RPC_WALLET_ALREADY_LOADED: Final = -35

DESCRIPTOR_LENGTH_MAX: Final = 10_000
DESCRIPTOR_CHECKSUM_LENGTH: Final = 8
_HARDENED: Final = 0x80000000
_TPRV_VERSION: Final = bytes.fromhex("04358394")
_TPUB_VERSION: Final = bytes.fromhex("043587cf")
_SECP256K1_P: Final = 2**256 - 2**32 - 977
_SECP256K1_G: Final = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)
WALLET_COINBASE_MATURITY_BLOCKS: Final = COINBASE_MATURITY_BLOCKS + 1  # Core's wallet rule
RESCAN_WINDOW_S: Final = 7200  # Bitcoin Core's TIMESTAMP_WINDOW
SEQUENCE_REPLACEABLE: Final = 0xFFFFFFFD
DUMMY_SIGNATURE_SIZE: Final = 72  # low-R DER signature plus hash type, as Core estimates
WALLET_KEYS_MAX: Final = 100_000  # addresses a signing wallet hands out per chain
WALLETS_MAX: Final = 64
IMPORT_REQUESTS_MAX: Final = 1000
_ADDRESS_TYPES: Final = {"bech32": (84, "wpkh"), "legacy": (44, "pkh")}
SIGHASH_TYPES: Final = {
    "DEFAULT": 0x01,
    "ALL": 0x01,
    "NONE": 0x02,
    "SINGLE": 0x03,
    "ALL|ANYONECANPAY": 0x81,
    "NONE|ANYONECANPAY": 0x82,
    "SINGLE|ANYONECANPAY": 0x83,
}


class DescriptorError(ValueError):
    """A descriptor does not parse; the message is Bitcoin Core's where it has one."""


class WalletError(Exception):
    """A wallet call fails; `code` is the Bitcoin Core RPC error code to answer with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- secp256k1, only what descriptors need (key validity, taproot tweak) ------------------

Point = tuple[int, int] | None


def _point_add(first: Point, second: Point) -> Point:
    """Add two curve points (None is the point at infinity)."""
    if first is None:
        return second
    if second is None:
        return first
    p = _SECP256K1_P
    if first[0] == second[0] and (first[1] + second[1]) % p == 0:
        return None
    if first == second:
        slope = 3 * first[0] * first[0] * pow(2 * first[1], -1, p) % p
    else:
        slope = (second[1] - first[1]) * pow(second[0] - first[0], -1, p) % p
    x = (slope * slope - first[0] - second[0]) % p
    return x, (slope * (first[0] - x) - first[1]) % p


def _point_multiply(point: Point, scalar: int) -> Point:
    """Multiply a point by a scalar (double and add over at most 256 bits)."""
    result: Point = None
    addend = point
    for _ in range(256):
        if not scalar:
            break
        if scalar & 1:
            result = _point_add(result, addend)
        addend = _point_add(addend, addend)
        scalar >>= 1
    return result


def lift_x(x: int) -> Point:
    """Return the point with x coordinate `x` and even y (BIP-340), or None."""
    p = _SECP256K1_P
    if x >= p:
        return None
    y_squared = (pow(x, 3, p) + 7) % p
    y = pow(y_squared, (p + 1) // 4, p)
    if y * y % p != y_squared:
        return None
    return x, y if y % 2 == 0 else p - y


def decode_public_key(key: bytes) -> Point:
    """Return the point of a compressed, uncompressed or hybrid key, or None if invalid."""
    if len(key) == 33 and key[0] in (2, 3):
        point = lift_x(int.from_bytes(key[1:], "big"))
        if point is None:
            return None
        return point if point[1] % 2 == key[0] - 2 else (point[0], _SECP256K1_P - point[1])
    if len(key) == 65 and key[0] in (4, 6, 7):
        x, y = int.from_bytes(key[1:33], "big"), int.from_bytes(key[33:], "big")
        if x >= _SECP256K1_P or y >= _SECP256K1_P:
            return None
        if (y * y - x * x * x - 7) % _SECP256K1_P or (key[0] in (6, 7) and y % 2 != key[0] - 6):
            return None
        return x, y
    return None


def _tagged_hash(tag: str, message: bytes) -> bytes:
    """Return BIP-340's tagged hash."""
    tag_hash = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(tag_hash + tag_hash + message).digest()


def taproot_output_key(internal_key: bytes) -> bytes:
    """Tweak a 32-byte x-only key with an empty script tree (BIP-341, BIP-86).

    Raises:
        DescriptorError: the key is not on the curve or the tweak is out of range.
    """
    point = lift_x(int.from_bytes(internal_key, "big"))
    tweak = int.from_bytes(_tagged_hash("TapTweak", internal_key), "big")
    if point is None or tweak >= SECP256K1_ORDER:
        raise DescriptorError(f"Pubkey '{internal_key.hex()}' is invalid")
    output = _point_add(point, _point_multiply(_SECP256K1_G, tweak))
    if output is None:
        raise DescriptorError(f"Pubkey '{internal_key.hex()}' is invalid")
    return output[0].to_bytes(32, "big")


# --- descriptor checksums and parsing ---


def descriptor_checksum(text: str) -> str:
    """Return the 8-character BIP-380 checksum of a descriptor, or "" for bad characters.

    The production checksum without its length bound: an inferred `raw()` descriptor of a long
    script can exceed it, and `parse_descriptor` bounds what callers send.
    """
    try:
        return bip380.descriptor_checksum(text, length_max=None)
    except bip380.DescriptorError:
        return ""


def add_checksum(text: str) -> str:
    """Append `#checksum` to a descriptor."""
    return f"{text}#{descriptor_checksum(text)}"


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A parsed, non-ranged descriptor: its canonical text and the script it describes."""

    canonical: str
    script_pubkey: bytes
    solvable: bool
    public_key: bytes | None = None

    @property
    def with_checksum(self) -> str:
        """Return the canonical text with its checksum."""
        return add_checksum(self.canonical)


def split_checksum(text: str, require_checksum: bool) -> str:
    """Check a descriptor's `#checksum` as Core's CheckChecksum; return the payload.

    Raises:
        DescriptorError: several `#`, a missing or wrong checksum, or bad characters.
    """
    parts = text.split("#")
    if len(parts) > 2:
        raise DescriptorError("Multiple '#' symbols")
    if len(parts) == 1 and require_checksum:
        raise DescriptorError("Missing checksum")
    if len(parts) == 2 and len(parts[1]) != DESCRIPTOR_CHECKSUM_LENGTH:
        raise DescriptorError(f"Expected 8 character checksum, not {len(parts[1])} characters")
    computed = descriptor_checksum(parts[0])
    if not computed:
        raise DescriptorError("Invalid characters in payload")
    if len(parts) == 2 and parts[1] != computed:
        raise DescriptorError(
            f"Provided checksum '{parts[1]}' does not match computed checksum '{computed}'"
        )
    return parts[0]


def parse_descriptor(text: str, require_checksum: bool) -> Descriptor:
    """Parse a descriptor into its canonical form and output script.

    Raises:
        DescriptorError: the descriptor is malformed, or of a kind the sandbox lacks.
    """
    if len(text) > DESCRIPTOR_LENGTH_MAX:
        raise DescriptorError(f"descriptor longer than {DESCRIPTOR_LENGTH_MAX} characters")
    return _parse_script_expression(split_checksum(text, require_checksum), "top")


_FUNCTION: Final = re.compile(r"^([a-z_]+)\((.*)\)$", re.DOTALL)
_UNSUPPORTED: Final = ("combo", "multi", "sortedmulti", "multi_a", "sortedmulti_a", "wsh")


def _parse_script_expression(text: str, context: str) -> Descriptor:
    """Parse one script expression in a context: "top", "sh" or "tr"."""
    match = _FUNCTION.match(text)
    name, inner = (match.group(1), match.group(2)) if match else ("", "")
    if name in ("addr", "raw") and context != "top":
        raise DescriptorError(f"Can only have {name}() at top level")
    if name == "addr":
        try:
            script = decode_address(inner)
        except AddressDecodeError:
            raise DescriptorError("Address is not valid") from None
        address = classify_script(script).address or inner
        return Descriptor(f"addr({address})", script, solvable=False)
    if name == "raw":
        if not inner or len(inner) % 2 or not _is_hex(inner):
            raise DescriptorError("Raw script is not hex")
        return Descriptor(f"raw({inner.lower()})", bytes.fromhex(inner), solvable=False)
    if name in ("pk", "pkh", "wpkh"):
        return _parse_key_function(name, inner, context)
    if name == "sh":
        if context != "top":
            raise DescriptorError("Can only have sh() at top level")
        nested = _parse_script_expression(inner, "sh")
        return Descriptor(
            f"sh({nested.canonical})", p2sh_script(hash160(nested.script_pubkey)), True
        )
    if name in ("tr", "rawtr"):
        if context != "top":
            raise DescriptorError(f"Can only have {name}() at top level")
        if "," in inner or "{" in inner:
            raise DescriptorError("the sandbox stand-in does not support taproot script trees")
        key_text, key = _parse_key(inner, "tr")
        x_only = key[1:] if len(key) == 33 else key
        program = taproot_output_key(x_only) if name == "tr" else x_only
        return Descriptor(f"{name}({key_text})", segwit_script(1, program), True, key)
    if name in _UNSUPPORTED:
        raise DescriptorError(f"the sandbox stand-in does not support {name}() descriptors")
    raise DescriptorError(f"'{text}' is not a valid descriptor function")


def _parse_key_function(name: str, inner: str, context: str) -> Descriptor:
    """Parse `pk(KEY)`, `pkh(KEY)` or `wpkh(KEY)`."""
    if name == "wpkh" and context not in ("top", "sh"):
        raise DescriptorError("Can only have wpkh() at top level or inside sh()")
    key_text, key = _parse_key(inner, "wpkh" if name == "wpkh" else context)
    if name == "pk":
        script = bytes([len(key)]) + key + bytes([0xAC])
    elif name == "pkh":
        script = p2pkh_script(hash160(key))
    else:
        script = segwit_script(0, hash160(key))
    return Descriptor(f"{name}({key_text})", script, True, key)


def _is_hex(text: str) -> bool:
    """Tell whether `text` is non-empty hex of even length."""
    return bool(text) and len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text)


def _parse_key(text: str, context: str) -> tuple[str, bytes]:
    """Parse a key expression: optional `[fingerprint/path]` origin and a hex public key.

    Returns the canonical key text and the key bytes (32 bytes for x-only keys).

    Raises:
        DescriptorError: with Bitcoin Core's messages for origins and hex keys.
    """
    parts = text.split("]")
    if len(parts) > 2:
        raise DescriptorError("Multiple ']' characters found for a single pubkey")
    origin = ""
    if len(parts) == 2:
        origin = _parse_origin(parts[0])
    key_text = parts[-1]
    if not key_text:
        raise DescriptorError("No key provided")
    if "/" in key_text or not _is_hex(key_text):
        if key_text[:4] in ("xpub", "tpub", "xprv", "tprv"):
            raise DescriptorError("the sandbox stand-in does not support extended keys")
        raise DescriptorError(f"key '{key_text}' is not valid")
    key = bytes.fromhex(key_text)
    if len(key) == 65 and key[0] in (6, 7) and decode_public_key(key) is not None:
        raise DescriptorError("Hybrid public keys are not allowed")
    if decode_public_key(key) is not None:
        if len(key) == 65 and context not in ("top", "sh"):
            raise DescriptorError("Uncompressed keys are not allowed")
        return origin + key_text.lower(), key
    if len(key) == 32 and context == "tr" and lift_x(int.from_bytes(key, "big")) is not None:
        return origin + key_text.lower(), key
    raise DescriptorError(f"Pubkey '{key_text}' is invalid")


def _parse_origin(text: str) -> str:
    """Parse `[fingerprint/path` (the `]` already split off) into canonical origin text.

    Raises:
        DescriptorError: with Bitcoin Core's messages.
    """
    if not text.startswith("["):
        got = text[0] if text else "]"
        raise DescriptorError(
            f"Key origin start '[ character expected but not found, got '{got}' instead"
        )
    elements = text[1:].split("/")
    fingerprint = elements[0]
    if len(fingerprint) != 8:
        raise DescriptorError(
            f"Fingerprint is not 4 bytes ({len(fingerprint)} characters instead of 8 characters)"
        )
    if not _is_hex(fingerprint):
        raise DescriptorError(f"Fingerprint '{fingerprint}' is not hex")
    steps: list[tuple[int, bool]] = []
    apostrophe = False
    for element in elements[1:]:
        hardened = element[-1:] in ("'", "h")
        if hardened:
            apostrophe = element[-1] == "'"
            element = element[:-1]
        if not element.isdigit() or not element.isascii() or int(element) > 0xFFFFFFFF:
            raise DescriptorError(f"Key path value '{element}' is not a valid uint32")
        if int(element) > 0x7FFFFFFF:
            raise DescriptorError(f"Key path value {int(element)} is out of range")
        steps.append((int(element), hardened))
    marker = "'" if apostrophe else "h"
    path = "".join(f"/{index}{marker if hardened else ''}" for index, hardened in steps)
    return f"[{fingerprint.lower()}{path}]"


def infer_descriptor(script: bytes) -> str:
    """Describe an output script as Core's InferDescriptor does without key knowledge."""
    info = classify_script(script)
    if info.kind == "pubkey" and decode_public_key(info.program) is not None:
        return add_checksum(f"pk({info.program.hex()})")
    if info.kind == "witness_v1_taproot" and lift_x(int.from_bytes(info.program, "big")):
        return add_checksum(f"rawtr({info.program.hex()})")
    if info.kind == "multisig":
        ops = parse_script(script)
        keys = [op.data or b"" for op in ops[1:-2]]
        if all(decode_public_key(key) is not None for key in keys):
            required = ops[0].opcode - 0x50
            return add_checksum(f"multi({required},{','.join(key.hex() for key in keys)})")
    if info.address is not None:
        return add_checksum(f"addr({info.address})")
    return add_checksum(f"raw({script.hex()})")


# --- BIP-32 ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExtendedKey:
    """A BIP-32 extended private key and where it sits in its tree."""

    secret: bytes
    chain_code: bytes
    depth: int
    parent_fingerprint: bytes
    child_number: int

    @property
    def public_key(self) -> bytes:
        """Return the compressed public key."""
        return public_key_of(self.secret)

    @property
    def fingerprint(self) -> bytes:
        """Return the first 4 bytes of HASH160 of the public key."""
        return hash160(self.public_key)[:4]


def public_key_of(secret: bytes) -> bytes:
    """Return the compressed public key of a 32-byte secret."""
    return bytes(CKey(secret, compressed=True).pub)


def master_key(seed: bytes) -> ExtendedKey:
    """Derive the BIP-32 master key of a seed.

    Raises:
        WalletError: the seed gives an invalid key (probability below 2**-127).
    """
    digest = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
    if not 0 < int.from_bytes(digest[:32], "big") < SECP256K1_ORDER:
        raise WalletError(RPC_WALLET_ERROR, "seed gives an invalid BIP-32 master key")
    return ExtendedKey(digest[:32], digest[32:], 0, bytes(4), 0)


def derive_child(parent: ExtendedKey, index: int) -> ExtendedKey:
    """Derive a private child key (BIP-32 CKDpriv).

    Raises:
        WalletError: the child key is invalid (probability below 2**-127).
    """
    if index >= _HARDENED:
        data = b"\x00" + parent.secret + index.to_bytes(4, "big")
    else:
        data = parent.public_key + index.to_bytes(4, "big")
    digest = hmac.new(parent.chain_code, data, hashlib.sha512).digest()
    tweak = int.from_bytes(digest[:32], "big")
    child = (tweak + int.from_bytes(parent.secret, "big")) % SECP256K1_ORDER
    if tweak >= SECP256K1_ORDER or child == 0:
        raise WalletError(RPC_WALLET_ERROR, f"BIP-32 child {index} is invalid")
    return ExtendedKey(
        child.to_bytes(32, "big"), digest[32:], parent.depth + 1, parent.fingerprint, index
    )


def serialize_extended_key(key: ExtendedKey, private: bool) -> str:
    """Write a testnet/regtest extended key (`tprv...` or `tpub...`)."""
    payload = (
        (_TPRV_VERSION if private else _TPUB_VERSION)
        + bytes([key.depth])
        + key.parent_fingerprint
        + key.child_number.to_bytes(4, "big")
        + key.chain_code
        + (b"\x00" + key.secret if private else key.public_key)
    )
    return encode_base58check(payload)


def format_path(path: Iterable[int]) -> str:
    """Write a derivation path with `h` for hardened steps (Core's canonical style)."""
    return "".join(f"/{index & ~_HARDENED}{'h' if index & _HARDENED else ''}" for index in path)


# --- wallets ---


@dataclass(frozen=True, slots=True)
class WalletKey:
    """A key a signing wallet handed out, with the descriptors Core would report."""

    secret: bytes
    public_key: bytes
    script_pubkey: bytes
    descriptor: str
    parent_descriptor: str
    internal: bool


@dataclass(slots=True)
class WatchedScript:
    """A script a wallet owns through an imported descriptor."""

    script_pubkey: bytes
    descriptor: str
    birth_s: int
    solvable: bool
    internal: bool
    label: str | None


@dataclass(frozen=True, slots=True)
class WalletCoin:
    """An unspent output a wallet sees."""

    outpoint: Outpoint
    coin: Coin
    confirmations: int
    safe: bool
    address: str | None
    label: str | None
    solvable: bool
    descriptor: str | None
    parent_descriptors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FundedTransaction:
    """The result of funding: the unsigned transaction, its fee and where change went."""

    tx: Any  # CTransaction
    fee_sats: int
    change_position: int


@dataclass(frozen=True, slots=True)
class InputError:
    """Why one input could not be signed (an element of signrawtransaction's `errors`)."""

    index: int
    message: str


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    """The result of signing: the transaction, whether complete, and per-input errors."""

    tx: Any  # CTransaction
    complete: bool
    errors: tuple[InputError, ...]


@dataclass(slots=True)
class Wallet:
    """One descriptor wallet: its keys or watched scripts, labels and counters."""

    name: str
    private_keys_enabled: bool
    blank: bool
    created_s: int
    seed: bytes | None = None
    next_index: dict[str, int] = field(default_factory=dict)
    keys: dict[bytes, WalletKey] = field(default_factory=dict)
    watched: dict[bytes, WatchedScript] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    _accounts: dict[str, ExtendedKey] = field(default_factory=dict)

    @property
    def has_keys(self) -> bool:
        """Tell whether the wallet can hand out addresses and sign."""
        return self.private_keys_enabled and self.seed is not None

    def owns(self, script: bytes) -> bool:
        """Tell whether an output script belongs to the wallet."""
        return script in self.keys or script in self.watched

    def birth_s(self, script: bytes) -> int:
        """Return the time from which outputs to `script` are seen."""
        watched = self.watched.get(script)
        return watched.birth_s if watched is not None else self.created_s

    def _master(self) -> ExtendedKey:
        """Return the BIP-32 master key.

        Raises:
            WalletError: the wallet has no seed (watch-only or blank).
        """
        master = self._accounts.get("master")
        if master is None:
            if self.seed is None:
                raise WalletError(RPC_WALLET_ERROR, "Error: This wallet has no available keys")
            master = self._accounts["master"] = master_key(self.seed)
        return master

    def _account(self, address_type: str) -> ExtendedKey:
        """Return the account key m/purpose'/1'/0' of an address type."""
        account = self._accounts.get(address_type)
        if account is None:
            purpose, _ = _ADDRESS_TYPES[address_type]
            account = self._master()
            for index in (purpose | _HARDENED, 1 | _HARDENED, _HARDENED):
                account = derive_child(account, index)
            self._accounts[address_type] = account
        return account

    def peek_change_script(self) -> bytes:
        """Return the script of the next bech32 change key without handing it out."""
        index = self.next_index.get("bech32/1", 0)
        key = derive_child(derive_child(self._account("bech32"), 1), index)
        return segwit_script(0, hash160(key.public_key))

    def parent_descriptor(self, address_type: str, internal: bool) -> str:
        """Return the public ranged descriptor of a chain, as listdescriptors shows it."""
        account = self._account(address_type)
        purpose, function = _ADDRESS_TYPES[address_type]
        fingerprint = self._master().fingerprint.hex()
        origin = f"[{fingerprint}/{purpose}h/1h/0h]"
        xpub = serialize_extended_key(account, private=False)
        return add_checksum(f"{function}({origin}{xpub}/{int(internal)}/*)")

    def new_key(self, address_type: str, internal: bool) -> WalletKey:
        """Derive the next receive or change key of an address type and own its script.

        Raises:
            WalletError: the wallet has no keys, or the chain ran out of indexes.
        """
        if not self.has_keys:
            raise WalletError(RPC_WALLET_ERROR, "Error: This wallet has no available keys")
        counter = f"{address_type}/{int(internal)}"
        index = self.next_index.get(counter, 0)
        if index >= WALLET_KEYS_MAX:
            raise WalletError(RPC_WALLET_ERROR, "Error: Keypool ran out")
        key = derive_child(derive_child(self._account(address_type), int(internal)), index)
        purpose, function = _ADDRESS_TYPES[address_type]
        public_key = key.public_key
        if function == "wpkh":
            script = segwit_script(0, hash160(public_key))
        else:
            script = p2pkh_script(hash160(public_key))
        fingerprint = self._master().fingerprint.hex()
        origin = f"[{fingerprint}/{purpose}h/1h/0h/{int(internal)}/{index}]"
        wallet_key = WalletKey(
            secret=key.secret,
            public_key=public_key,
            script_pubkey=script,
            descriptor=add_checksum(f"{function}({origin}{public_key.hex()})"),
            parent_descriptor=self.parent_descriptor(address_type, internal),
            internal=internal,
        )
        self.keys[script] = wallet_key
        self.next_index[counter] = index + 1
        return wallet_key

    def import_descriptor(
        self, descriptor: Descriptor, birth_s: int, internal: bool, label: str | None
    ) -> None:
        """Own a descriptor's script from `birth_s` on (an earlier import keeps its time)."""
        existing = self.watched.get(descriptor.script_pubkey)
        if existing is not None:
            birth_s = min(birth_s, existing.birth_s)
        self.watched[descriptor.script_pubkey] = WatchedScript(
            descriptor.script_pubkey,
            descriptor.with_checksum,
            birth_s,
            descriptor.solvable,
            internal,
            None if internal else (label or ""),
        )
        address = classify_script(descriptor.script_pubkey).address
        if address is not None and not internal:
            self.labels[address] = label or ""

    def visible(self, chain: RegtestChain, coin: Coin) -> bool:
        """Tell whether the wallet has seen a coin (mempool, or block within its rescan)."""
        if coin.height == MEMPOOL_HEIGHT:
            return True
        block_time = chain.record_at(coin.height).block.nTime
        return bool(block_time >= self.birth_s(coin.script_pubkey) - RESCAN_WINDOW_S)

    def describe(self, script: bytes) -> tuple[bool, str | None, tuple[str, ...]]:
        """Return (solvable, descriptor if solvable, parent descriptors) of an owned script."""
        key = self.keys.get(script)
        if key is not None:
            return True, key.descriptor, (key.parent_descriptor,)
        watched = self.watched[script]
        descriptor = watched.descriptor if watched.solvable else None
        return watched.solvable, descriptor, (watched.descriptor,)

    def snapshot(self) -> dict[str, Any]:
        """Return the wallet as JSON-ready data."""
        return {
            "name": self.name,
            "private_keys_enabled": self.private_keys_enabled,
            "blank": self.blank,
            "created_s": self.created_s,
            "seed": self.seed.hex() if self.seed is not None else None,
            "next_index": dict(self.next_index),
            "watched": [
                {
                    "descriptor": item.descriptor,
                    "birth_s": item.birth_s,
                    "internal": item.internal,
                    "label": item.label,
                }
                for item in self.watched.values()
            ],
            "labels": dict(self.labels),
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Wallet:
        """Rebuild a wallet from `snapshot` data, re-deriving its handed-out keys.

        Raises:
            WalletError: the data is malformed.
            DescriptorError: a stored descriptor no longer parses.
        """
        seed = data.get("seed")
        wallet = cls(
            name=str(data["name"]),
            private_keys_enabled=bool(data["private_keys_enabled"]),
            blank=bool(data["blank"]),
            created_s=int(data["created_s"]),
            seed=bytes.fromhex(seed) if seed else None,
        )
        for counter, count in dict(data.get("next_index", {})).items():
            address_type, internal = str(counter).split("/")
            for _ in range(min(int(count), WALLET_KEYS_MAX)):
                wallet.new_key(address_type, internal == "1")
        for item in data.get("watched", []):
            descriptor = parse_descriptor(str(item["descriptor"]), require_checksum=True)
            wallet.import_descriptor(
                descriptor, int(item["birth_s"]), bool(item["internal"]), item.get("label")
            )
        wallet.labels.update({str(k): str(v) for k, v in dict(data.get("labels", {})).items()})
        return wallet


def wallet_coins(
    wallet: Wallet, chain: RegtestChain, include_immature_coinbase: bool = False
) -> list[WalletCoin]:
    """List the wallet's unspent outputs, confirmed and in the mempool.

    Outputs spent by a mempool transaction are left out, as are immature coinbase outputs
    unless asked for.
    """
    found: list[WalletCoin] = []
    for outpoint, coin in chain.utxo_items():
        if not wallet.owns(coin.script_pubkey) or chain.mempool_spender(outpoint) is not None:
            continue
        if not wallet.visible(chain, coin):
            continue
        confirmations = chain.height - coin.height + 1
        immature = coin.coinbase and confirmations < WALLET_COINBASE_MATURITY_BLOCKS
        if immature and not include_immature_coinbase:
            continue
        found.append(_wallet_coin(wallet, outpoint, coin, confirmations, True))
    for entry in chain.mempool_entries():
        from_me = _spends_only_wallet_coins(wallet, chain, entry.tx)
        for index, output in enumerate(entry.tx.vout):
            script = bytes(output.scriptPubKey)
            outpoint = (entry.txid, index)
            if not wallet.owns(script) or chain.mempool_spender(outpoint) is not None:
                continue
            coin = Coin(output.nValue, script, MEMPOOL_HEIGHT, False)
            found.append(_wallet_coin(wallet, outpoint, coin, 0, from_me))
    found.sort(key=lambda item: (-item.confirmations, item.outpoint))
    return found


def _spends_only_wallet_coins(wallet: Wallet, chain: RegtestChain, tx: Any) -> bool:
    """Tell whether every input of a mempool transaction spends a wallet output (trusted)."""
    for txin in tx.vin:
        coin = chain.available_coin((bytes(txin.prevout.hash), txin.prevout.n))
        if coin is None or not wallet.owns(coin.script_pubkey):
            return False
    return True


def _wallet_coin(
    wallet: Wallet, outpoint: Outpoint, coin: Coin, confirmations: int, safe: bool
) -> WalletCoin:
    """Describe one owned output."""
    address = classify_script(coin.script_pubkey).address
    solvable, descriptor, parents = wallet.describe(coin.script_pubkey)
    return WalletCoin(
        outpoint=outpoint,
        coin=coin,
        confirmations=confirmations,
        safe=safe,
        address=address,
        label=wallet.labels.get(address) if address is not None else None,
        solvable=solvable,
        descriptor=descriptor,
        parent_descriptors=parents,
    )


def received_by_script_sats(
    wallet: Wallet,
    chain: RegtestChain,
    script: bytes,
    confirmations_min: int,
    include_immature_coinbase: bool,
) -> int:
    """Total ever paid to `script` with enough confirmations (getreceivedbyaddress)."""
    total = 0
    for record in chain.active_records():
        confirmations = chain.height - record.height + 1
        if confirmations < confirmations_min:
            break
        if record.block.nTime < wallet.birth_s(script) - RESCAN_WINDOW_S:
            continue
        for position, tx in enumerate(record.block.vtx):
            immature = position == 0 and confirmations < WALLET_COINBASE_MATURITY_BLOCKS
            if position == 0 and record.height == 0:
                continue
            if immature and not include_immature_coinbase:
                continue
            total += sum(out.nValue for out in tx.vout if bytes(out.scriptPubKey) == script)
    if confirmations_min <= 0:
        for entry in chain.mempool_entries():
            total += sum(out.nValue for out in entry.tx.vout if bytes(out.scriptPubKey) == script)
    return total


# --- funding and signing ---


def _dummy_signed(wallet: Wallet, tx: Any, coins: list[Coin]) -> Any:
    """Return a copy of `tx` with maximum-size dummy signatures on wallet inputs."""
    dummy = CMutableTransaction.from_tx(tx)
    stacks: list[CTxInWitness] = []
    for txin, coin, index in zip(dummy.vin, coins, range(len(coins)), strict=True):
        key = wallet.keys.get(coin.script_pubkey)
        existing = tx.wit.vtxinwit[index] if index < len(tx.wit.vtxinwit) else CTxInWitness()
        if key is None:
            stacks.append(existing)
            continue
        signature = bytes(DUMMY_SIGNATURE_SIZE)
        if classify_script(coin.script_pubkey).kind == "witness_v0_keyhash":
            txin.scriptSig = CScript()
            stacks.append(CTxInWitness(CScriptWitness([signature, key.public_key])))
        else:
            txin.scriptSig = CScript([signature, key.public_key])
            stacks.append(CTxInWitness())
    dummy.wit = CTxWitness(stacks)
    return CTransaction.from_tx(dummy)


def _estimated_fee_sats(wallet: Wallet, tx: Any, coins: list[Coin], rate_sat_per_kvb: int) -> int:
    """Return the fee for `tx` once signed, at a rate."""
    weight = transaction_sizes(_dummy_signed(wallet, tx, coins))[2]
    return fee_for_size_sats(rate_sat_per_kvb, (weight + 3) // 4)


def fund_transaction(
    wallet: Wallet,
    chain: RegtestChain,
    tx: Any,
    rate_sat_per_kvb: int,
    *,
    change_position: int | None = None,
    subtract_fee_from: tuple[int, ...] = (),
    add_inputs: bool = True,
) -> FundedTransaction:
    """Add wallet inputs and a change output so that `tx` pays its outputs and fee.

    Coins are taken largest first, confirmed before unconfirmed change; change below the
    dust threshold goes to the fee. With `subtract_fee_from` the fee comes out of those
    outputs instead of the inputs.

    Raises:
        WalletError: a preset input is unknown or not the wallet's (-4), the wallet has too
            little (-4 "Insufficient funds"), or an output would be left as dust.
    """
    preset = [_preset_coin(wallet, chain, txin) for txin in tx.vin]
    taken = {(bytes(txin.prevout.hash), txin.prevout.n) for txin in tx.vin}
    candidates = [
        item
        for item in wallet_coins(wallet, chain)
        if item.outpoint not in taken and item.coin.script_pubkey in wallet.keys and item.safe
    ]
    candidates.sort(key=lambda item: (item.confirmations == 0, -item.coin.value_sats))
    if not add_inputs:
        candidates = []
    outputs_sats = sum(output.nValue for output in tx.vout)
    for count in range(len(candidates) + 1):
        chosen = candidates[:count]
        if not tx.vin and not chosen:
            continue
        funded = _try_fund(
            wallet,
            chain,
            tx,
            preset,
            chosen,
            outputs_sats,
            rate_sat_per_kvb,
            change_position,
            subtract_fee_from,
        )
        if funded is not None:
            return funded
    raise WalletError(RPC_WALLET_ERROR, "Insufficient funds")


def _preset_coin(wallet: Wallet, chain: RegtestChain, txin: Any) -> Coin:
    """Return the coin of an input given in the transaction to fund.

    Raises:
        WalletError: the coin is unknown or spent, or the wallet cannot sign for it.
    """
    outpoint = (bytes(txin.prevout.hash), txin.prevout.n)
    coin = chain.unspent_coin(outpoint, include_mempool=True)
    if coin is None:
        raise WalletError(RPC_WALLET_ERROR, "Unable to find UTXO for external input")
    if coin.script_pubkey not in wallet.keys:
        raise WalletError(
            RPC_WALLET_ERROR,
            f"Not solvable pre-selected input COutPoint({hash_to_hex(outpoint[0])[:10]}, "
            f"{outpoint[1]})",
        )
    return coin


def _try_fund(
    wallet: Wallet,
    chain: RegtestChain,
    tx: Any,
    preset: list[Coin],
    chosen: list[WalletCoin],
    outputs_sats: int,
    rate_sat_per_kvb: int,
    change_position: int | None,
    subtract_fee_from: tuple[int, ...],
) -> FundedTransaction | None:
    """Build the funded transaction from a coin choice, or None if it does not cover."""
    draft = CMutableTransaction.from_tx(tx)
    for item in chosen:
        outpoint = COutPoint(item.outpoint[0], item.outpoint[1])
        draft.vin.append(CMutableTxIn(outpoint, CScript(), SEQUENCE_REPLACEABLE))
    existing = list(tx.wit.vtxinwit)
    draft.wit = CTxWitness(existing + [CTxInWitness()] * (len(draft.vin) - len(existing)))
    coins = [*preset, *(item.coin for item in chosen)]
    inputs_sats = sum(coin.value_sats for coin in coins)
    change_script = wallet.peek_change_script()
    with_change = CMutableTransaction.from_tx(draft)
    position = len(with_change.vout) if change_position is None else change_position
    if not 0 <= position <= len(with_change.vout):
        raise WalletError(RPC_INVALID_PARAMETER, "changePosition out of bounds")
    with_change.vout.insert(position, CTxOut(0, CScript(change_script)))
    fee_without = _estimated_fee_sats(wallet, draft, coins, rate_sat_per_kvb)
    fee_with = _estimated_fee_sats(wallet, with_change, coins, rate_sat_per_kvb)
    paid_by_inputs = 0 if subtract_fee_from else 1
    change_sats = inputs_sats - outputs_sats - fee_with * paid_by_inputs
    if change_sats >= dust_threshold_sats(change_script):
        wallet.new_key("bech32", internal=True)
        with_change.vout[position] = CTxOut(change_sats, CScript(change_script))
        _subtract_fee(with_change, subtract_fee_from, fee_with, position)
        return FundedTransaction(CTransaction.from_tx(with_change), fee_with, position)
    leftover = inputs_sats - outputs_sats - fee_without * paid_by_inputs
    if leftover < 0:
        return None
    _subtract_fee(draft, subtract_fee_from, fee_without, None)
    return FundedTransaction(CTransaction.from_tx(draft), fee_without + leftover, -1)


def _subtract_fee(
    tx: Any, output_indexes: tuple[int, ...], fee_sats: int, change_position: int | None
) -> None:
    """Take `fee_sats` out of the listed outputs, split evenly, remainder from the first.

    Raises:
        WalletError: an output would fall below its dust threshold.
    """
    if not output_indexes:
        return
    share, remainder = divmod(fee_sats, len(output_indexes))
    for order, index in enumerate(output_indexes):
        position = index + 1 if change_position is not None and index >= change_position else index
        output = tx.vout[position]
        value = output.nValue - share - (remainder if order == 0 else 0)
        if value < dust_threshold_sats(bytes(output.scriptPubKey)):
            raise WalletError(
                RPC_WALLET_ERROR, "The transaction amount is too small to pay the fee"
            )
        tx.vout[position] = CTxOut(value, output.scriptPubKey)


def sign_transaction(
    wallet: Wallet,
    chain: RegtestChain,
    tx: Any,
    extra_coins: dict[Outpoint, Coin],
    sighash_type: int,
) -> SignedTransaction:
    """Sign every input the wallet holds the key for; report the others.

    Inputs whose coin is neither in the chain, the mempool nor `extra_coins` are reported as
    "Input not found or already spent"; inputs the wallet cannot sign and that do not
    already verify are reported as missing a key.
    """
    draft = CMutableTransaction.from_tx(tx)
    witnesses = [
        tx.wit.vtxinwit[index] if index < len(tx.wit.vtxinwit) else CTxInWitness()
        for index in range(len(tx.vin))
    ]
    coins: list[Coin | None] = []
    for txin in tx.vin:
        outpoint = (bytes(txin.prevout.hash), txin.prevout.n)
        coins.append(extra_coins.get(outpoint) or chain.available_coin(outpoint))
    for index, coin in enumerate(coins):
        key = wallet.keys.get(coin.script_pubkey) if coin is not None else None
        if coin is None or key is None:
            continue
        _sign_input(draft, witnesses, index, coin, key, sighash_type)
    draft.wit = CTxWitness(witnesses)
    signed = CTransaction.from_tx(draft)
    errors: list[InputError] = []
    for index, coin in enumerate(coins):
        if coin is None:
            errors.append(InputError(index, "Input not found or already spent"))
            continue
        reason = input_script_error(signed, index, coin)
        if reason is not None:
            errors.append(InputError(index, _signing_message(signed, index, reason)))
    return SignedTransaction(signed, not errors, tuple(errors))


def _signing_message(tx: Any, index: int, reason: str) -> str:
    """Word a failed input as signrawtransactionwithwallet does."""
    if not bytes(tx.vin[index].scriptSig) and not _has_witness(tx, index):
        return "Unable to sign input, invalid stack size (possibly missing key)"
    if "(" in reason and reason.endswith(")"):
        return reason[reason.index("(") + 1 : -1]
    return reason


def _has_witness(tx: Any, index: int) -> bool:
    """Tell whether input `index` carries witness data."""
    return index < len(tx.wit.vtxinwit) and bool(tx.wit.vtxinwit[index].scriptWitness.stack)


def _sign_input(
    draft: Any,
    witnesses: list[Any],
    index: int,
    coin: Coin,
    key: WalletKey,
    sighash_type: int,
) -> None:
    """Sign one P2WPKH or P2PKH input in place."""
    signer = CKey(key.secret, compressed=True)
    if classify_script(coin.script_pubkey).kind == "witness_v0_keyhash":
        code = CScript(p2pkh_script(hash160(key.public_key)))
        digest = SignatureHash(
            code,
            draft,
            index,
            sighash_type,
            amount=coin.value_sats,
            sigversion=SIGVERSION_WITNESS_V0,
        )
        signature = bytes(signer.sign(digest)) + bytes([sighash_type])
        draft.vin[index].scriptSig = CScript()
        witnesses[index] = CTxInWitness(CScriptWitness([signature, key.public_key]))
        return
    digest = SignatureHash(
        CScript(coin.script_pubkey), draft, index, sighash_type, sigversion=SIGVERSION_BASE
    )
    signature = bytes(signer.sign(digest)) + bytes([sighash_type])
    draft.vin[index].scriptSig = CScript([signature, key.public_key])
    witnesses[index] = CTxInWitness()


# --- the set of wallets a node has ---


class WalletRegistry:
    """The wallets a node knows (created) and which of them are loaded, in load order."""

    def __init__(self, wallets_dir: str) -> None:
        """Start with no wallets; `wallets_dir` only words error messages."""
        self._wallets_dir = wallets_dir
        self._wallets: dict[str, Wallet] = {}
        self._loaded: list[str] = []

    def known_names(self) -> list[str]:
        """Return every wallet's name, loaded or not."""
        return list(self._wallets)

    def loaded_names(self) -> list[str]:
        """Return the loaded wallets' names in load order."""
        return list(self._loaded)

    def create(self, name: str, disable_private_keys: bool, blank: bool, created_s: int) -> Wallet:
        """Create and load a wallet.

        Raises:
            WalletError: the name exists already (-4), or too many wallets.
        """
        if name in self._wallets:
            raise WalletError(
                RPC_WALLET_ERROR,
                "Wallet file verification failed. Failed to create database path "
                f"'{self._path(name)}'. Database already exists.",
            )
        if len(self._wallets) >= WALLETS_MAX:
            raise WalletError(RPC_WALLET_ERROR, f"at most {WALLETS_MAX} wallets")
        seed = None if disable_private_keys or blank else os.urandom(32)
        wallet = Wallet(name, not disable_private_keys, blank, created_s, seed)
        self._wallets[name] = wallet
        self._loaded.append(name)
        return wallet

    def load(self, name: str) -> Wallet:
        """Load a known wallet.

        Raises:
            WalletError: unknown (-18) or already loaded (-35).
        """
        if name not in self._wallets:
            raise WalletError(
                RPC_WALLET_NOT_FOUND,
                "Wallet file verification failed. Failed to load database path "
                f"'{self._path(name)}'. Path does not exist.",
            )
        if name in self._loaded:
            raise WalletError(RPC_WALLET_ALREADY_LOADED, f'Wallet "{name}" is already loaded.')
        self._loaded.append(name)
        return self._wallets[name]

    def unload(self, name: str) -> None:
        """Unload a loaded wallet.

        Raises:
            WalletError: not loaded (-18).
        """
        if name not in self._loaded:
            raise WalletError(
                RPC_WALLET_NOT_FOUND, "Requested wallet does not exist or is not loaded"
            )
        self._loaded.remove(name)

    def select(self, endpoint_name: str | None) -> Wallet:
        """Pick the wallet a request addresses (Core's GetWalletForJSONRPCRequest).

        Raises:
            WalletError: -18 when the named wallet is not loaded or none is, -19 when the
                plain endpoint is used with several wallets loaded.
        """
        if endpoint_name is not None:
            if endpoint_name not in self._loaded:
                raise WalletError(
                    RPC_WALLET_NOT_FOUND, "Requested wallet does not exist or is not loaded"
                )
            return self._wallets[endpoint_name]
        if len(self._loaded) == 1:
            return self._wallets[self._loaded[0]]
        if not self._loaded:
            raise WalletError(
                RPC_WALLET_NOT_FOUND,
                "No wallet is loaded. Load a wallet using loadwallet or create a new one with "
                "createwallet. (Note: A default wallet is no longer automatically created)",
            )
        raise WalletError(
            RPC_WALLET_NOT_SPECIFIED,
            "Wallet file not specified (must request wallet RPC through /wallet/<filename> "
            "uri-path).",
        )

    def _path(self, name: str) -> str:
        """Return where Core would keep a wallet, for messages."""
        return f"{self._wallets_dir}/{name}" if name else self._wallets_dir

    def snapshot(self) -> dict[str, Any]:
        """Return every wallet and the loaded list as JSON-ready data."""
        return {
            "wallets": [wallet.snapshot() for wallet in self._wallets.values()],
            "loaded": list(self._loaded),
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Replace the wallets with snapshot data.

        Raises:
            WalletError: the data is malformed.
        """
        try:
            wallets = [Wallet.restore(item) for item in data.get("wallets", [])[:WALLETS_MAX]]
        except (KeyError, TypeError, ValueError) as error:
            raise WalletError(RPC_WALLET_ERROR, f"wallet snapshot is malformed: {error}") from error
        self._wallets = {wallet.name: wallet for wallet in wallets}
        self._loaded = [name for name in data.get("loaded", []) if name in self._wallets]
