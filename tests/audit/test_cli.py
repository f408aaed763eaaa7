"""`sequestra-audit`: exit codes, JSON verdicts, proofs, consistency, notes, the import rule."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sequestra.audit.cli import main
from sequestra.ledger.note import format_verifier_key
from sequestra.ledger.tlog_proof import TlogProof
from tests.audit.bundles import MemoryLedger, Witness, write_bundle

PURE_LEDGER_MODULES = frozenset(
    f"sequestra.ledger.{name}"
    for name in (
        "anchor_payload",
        "authority",
        "canonical",
        "checkpoint",
        "entry",
        "errors",
        "keyfile",
        "keys",
        "merkle",
        "note",
        "policy",
        "replay",
        "roles",
        "statement",
        "tiles",
        "timefmt",
        "tlog_proof",
        "workers",
    )
)
# cryptography and the compiled modules it loads (its OpenSSL binding registers `_openssl`).
THIRD_PARTY_ALLOWED = frozenset({"cryptography", "cffi", "_cffi_backend", "_openssl"})


def run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    status = main(list(arguments))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, dict[str, object]]:
    status, out, _ = run(capsys, *arguments, "--json")
    return status, json.loads(out)


@pytest.fixture
def bundle(small: MemoryLedger, witness: Witness, tmp_path: Path) -> Path:
    return write_bundle(small, tmp_path / "bundle", witnesses=[witness])


# --- bundle -----------------------------------------------------------------------------------


def test_bundle_verified(
    capsys: pytest.CaptureFixture[str], small: MemoryLedger, witness: Witness, bundle: Path
) -> None:
    status, verdict = run_json(
        capsys,
        "bundle",
        str(bundle),
        "--vkey",
        small.vkey,
        "--witness-vkey",
        witness.vkey,
        "--require-witness",
        witness.name,
    )
    assert status == 0
    assert verdict["ok"] is True and verdict["size"] == 10
    assert verdict["cosigned_by"] == {"3": [], "7": [witness.name], "10": [witness.name]}
    assert set(verdict) >= {
        "ok",
        "size",
        "first_bad_seq",
        "reason",
        "root",
        "checkpoints_checked",
        "cosigned_by",
    }


def test_bundle_human_output_and_key_files(
    capsys: pytest.CaptureFixture[str], small: MemoryLedger, bundle: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "ledger.vkey"
    key_file.write_text(small.vkey + "\n")
    status, out, err = run(capsys, "bundle", str(bundle), "--vkey", str(key_file))
    assert status == 0
    warning, verified = out.split("\n", 1)
    assert (
        warning.startswith("warning: no --policy")
        and "only the bundle's self-consistency" in warning
    )
    assert verified.startswith(f"VERIFIED {bundle}: 10 entries, root ")
    assert "checkpoints checked: 3 (sizes 3, 7, 10)" in out
    assert err == ""  # not a terminal: no progress


def test_bundle_not_verified(
    capsys: pytest.CaptureFixture[str], small: MemoryLedger, bundle: Path
) -> None:
    lines = (bundle / "entries.jsonl").read_bytes().splitlines(keepends=True)
    (bundle / "entries.jsonl").write_bytes(b"".join(lines[:4] + lines[5:]))
    status, verdict = run_json(capsys, "bundle", str(bundle), "--vkey", small.vkey)
    assert (status, verdict["ok"], verdict["first_bad_seq"]) == (1, False, 4)
    assert "says seq 5" in str(verdict["reason"])
    status, out, _ = run(capsys, "bundle", str(bundle), "--vkey", small.vkey)
    assert status == 1 and out.startswith(f"NOT VERIFIED {bundle}: seq 4: entry at position 4")


def test_bundle_without_vkey_warns_loudly(capsys: pytest.CaptureFixture[str], bundle: Path) -> None:
    status, out, err = run(capsys, "bundle", str(bundle))
    assert status == 0
    assert "WARNING: no --vkey" in err
    assert "warning: no --vkey given: trusting the ledger key the bundle itself carries" in out
    status, verdict = run_json(capsys, "bundle", str(bundle))
    assert status == 0 and "no --vkey given" in str(verdict["warnings"])


def test_bundle_rollback_and_fork_from_the_command_line(
    capsys: pytest.CaptureFixture[str], small: MemoryLedger, tmp_path: Path
) -> None:
    directory = write_bundle(small, tmp_path / "bundle", size=7)
    trusted = tmp_path / "trusted"
    trusted.write_bytes(small.checkpoints[10])
    arguments = ("bundle", str(directory), "--vkey", small.vkey, "--trusted-checkpoint")
    status, verdict = run_json(capsys, *arguments, str(trusted))
    assert status == 1 and str(verdict["reason"]).startswith("rollback")
    trusted.write_bytes(small.checkpoints[3])
    assert run_json(capsys, *arguments, str(trusted))[0] == 0


@pytest.mark.parametrize(
    "arguments",
    [
        ("bundle", "{missing}", "--vkey", "{vkey}"),
        ("bundle", "{bundle}", "--vkey", "not-a-key"),
        ("bundle", "{bundle}", "--vkey", "{witness_vkey}"),
        ("bundle", "{bundle}", "--vkey", "{vkey}", "--witness-vkey", "{vkey}"),
        ("bundle", "{bundle}", "--vkey", "{vkey}", "--require-witness", "nobody"),
        ("bundle", "{bundle}", "--vkey", "{vkey}", "--trusted-checkpoint", "{missing}"),
        ("bundle", "{bundle}", "--vkey", "{vkey}", "--trusted-checkpoint", "{garbage}"),
        ("bundle", "{bundle}", "--no-such-option"),
        ("frobnicate",),
        (),
        ("proof", "{garbage}", "{missing}", "--vkey", "{vkey}"),
        ("proof", "{garbage}", "{garbage}"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str],
    small: MemoryLedger,
    witness: Witness,
    bundle: Path,
    tmp_path: Path,
    arguments: tuple[str, ...],
) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00garbage")
    values = {
        "missing": str(tmp_path / "missing"),
        "bundle": str(bundle),
        "vkey": small.vkey,
        "witness_vkey": witness.vkey,
        "garbage": str(garbage),
    }
    filled = [argument.format(**values) for argument in arguments]
    status, out, err = run(capsys, *filled)
    assert status == 2, (out, err)
    assert "error:" in err and "Traceback" not in err
    status, out, _ = run(capsys, *filled, "--json")
    assert status == 2
    assert json.loads(out)["ok"] is False


def test_bundle_without_vkey_and_without_key_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], bundle: Path
) -> None:
    (bundle / "keys" / "ledger.vkey").unlink()
    assert run(capsys, "bundle", str(bundle))[0] == 2


# --- proof ------------------------------------------------------------------------------------


@pytest.fixture
def proof_files(small: MemoryLedger, tmp_path: Path) -> tuple[Path, Path]:
    seq, size = 4, 10
    entry = tmp_path / "entry.json"
    entry.write_bytes(small.entries[seq].canonical + b"\n")
    proof = TlogProof(seq, tuple(small.tree().inclusion_proof(seq, size)), small.checkpoints[size])
    path = tmp_path / "entry.tlog-proof"
    path.write_bytes(proof.format())
    return entry, path


def test_proof_verified(
    capsys: pytest.CaptureFixture[str], small: MemoryLedger, proof_files: tuple[Path, Path]
) -> None:
    entry, proof = proof_files
    status, verdict = run_json(capsys, "proof", str(entry), str(proof), "--vkey", small.vkey)
    assert status == 0, verdict
    assert verdict == {
        "ok": True,
        "reason": None,
        "seq": 4,
        "leaf_hash": small.entries[4].leaf_hash.hex(),
        "size": 10,
        "root": small.tree().root().hex(),
        "statement_signature_checked": False,
    }
    entry.write_bytes(entry.read_bytes()[:-1])  # without its newline, too
    status, out, _ = run(capsys, "proof", str(entry), str(proof), "--vkey", small.vkey)
    assert status == 0 and out.startswith("VERIFIED: entry 4")


def test_proof_of_another_entry(
    capsys: pytest.CaptureFixture[str], small: MemoryLedger, proof_files: tuple[Path, Path]
) -> None:
    entry, proof = proof_files
    entry.write_bytes(small.entries[5].canonical + b"\n")
    status, verdict = run_json(capsys, "proof", str(entry), str(proof), "--vkey", small.vkey)
    assert status == 1 and "its seq is 5; the proof is for index 4" in str(verdict["reason"])


def test_proof_damaged_every_way(
    capsys: pytest.CaptureFixture[str], small: MemoryLedger, proof_files: tuple[Path, Path]
) -> None:
    entry, proof = proof_files
    original_entry, original_proof = entry.read_bytes(), proof.read_bytes()
    for position in range(len(original_proof)):
        data = bytearray(original_proof)
        data[position] ^= 0x04
        proof.write_bytes(bytes(data))
        status, out, _ = run(capsys, "proof", str(entry), str(proof), "--vkey", small.vkey)
        if status == 0:  # only a change in a cosignature line of an unknown key may pass
            assert b"\n\n" in bytes(data) and position > original_proof.rindex(b"\n\xe2\x80\x94")
        else:
            assert status == 1, out
    proof.write_bytes(original_proof)
    for cut in range(0, len(original_proof), 7):
        proof.write_bytes(original_proof[:cut])
        assert run(capsys, "proof", str(entry), str(proof), "--vkey", small.vkey)[0] == 1
    proof.write_bytes(original_proof)
    for position in range(0, len(original_entry) - 1, 3):
        data = bytearray(original_entry)
        data[position] ^= 0x01
        entry.write_bytes(bytes(data))
        assert run(capsys, "proof", str(entry), str(proof), "--vkey", small.vkey)[0] == 1


def test_proof_under_another_key(
    capsys: pytest.CaptureFixture[str], small: MemoryLedger, proof_files: tuple[Path, Path]
) -> None:
    entry, proof = proof_files
    other = MemoryLedger.create(notes=0, origin=small.origin)
    status, verdict = run_json(capsys, "proof", str(entry), str(proof), "--vkey", other.vkey)
    assert status == 1 and "not signed by the ledger key" in str(verdict["reason"])


# --- consistency ------------------------------------------------------------------------------


@pytest.fixture
def consistency_files(small: MemoryLedger, tmp_path: Path) -> tuple[Path, Path, Path]:
    old, new, proof = tmp_path / "old", tmp_path / "new", tmp_path / "proof"
    old.write_bytes(small.checkpoints[3])
    new.write_bytes(small.checkpoints[10])
    hashes = small.tree().consistency_proof(3, 10)
    proof.write_text("".join(base64.b64encode(h).decode() + "\n" for h in hashes))
    return old, new, proof


def test_consistency_verified(
    capsys: pytest.CaptureFixture[str],
    small: MemoryLedger,
    consistency_files: tuple[Path, Path, Path],
) -> None:
    old, new, proof = (str(path) for path in consistency_files)
    status, verdict = run_json(capsys, "consistency", old, new, proof, "--vkey", small.vkey)
    assert status == 0, verdict
    assert (verdict["old_size"], verdict["new_size"]) == (3, 10)
    status, out, _ = run(capsys, "consistency", old, new, proof, "--vkey", small.vkey)
    assert status == 0 and out.startswith("VERIFIED: the checkpoint of 10")


def test_consistency_refused(
    capsys: pytest.CaptureFixture[str],
    small: MemoryLedger,
    consistency_files: tuple[Path, Path, Path],
    tmp_path: Path,
) -> None:
    old, new, proof = consistency_files
    lines = proof.read_text().splitlines(keepends=True)
    arguments = ("consistency", str(old), str(new), str(proof), "--vkey", small.vkey)
    cases = {
        "".join(lines[:-1]): "fork or bad proof",
        "".join([*lines, lines[0]]): "fork or bad proof",
        "".join(reversed(lines)): "fork or bad proof",
        "not base64\n": "line 1: not base64",
        "AAAA\n": "not the base64 of 32 bytes",
        "".join(lines) + "\n": f"line {len(lines) + 1}: not the base64 of 32 bytes",
    }
    for text, reason in cases.items():
        proof.write_text(text)
        status, verdict = run_json(capsys, *arguments)
        assert status == 1 and reason in str(verdict["reason"]), (text, verdict)
    swapped = ("consistency", str(new), str(old), str(proof), "--vkey", small.vkey)
    status, verdict = run_json(capsys, *swapped)
    assert status == 1 and str(verdict["reason"]).startswith("rollback")
    fork = MemoryLedger.create(notes=8, origin=small.origin)
    fork.ledger_key = small.ledger_key
    new.write_bytes(fork.sign_checkpoint(10))
    proof.write_text("".join(lines))
    status, verdict = run_json(capsys, *arguments)
    assert status == 1 and "fork" in str(verdict["reason"])


# --- note -------------------------------------------------------------------------------------


def test_note_verified_by_ledger_and_witness(
    capsys: pytest.CaptureFixture[str], small: MemoryLedger, witness: Witness, tmp_path: Path
) -> None:
    note = tmp_path / "note"
    note.write_bytes(small.checkpoints[10])
    status, out, _ = run(capsys, "note", str(note), "--vkey", small.vkey, "--vkey", witness.vkey)
    assert status == 0
    assert out.startswith(f"{small.origin}\n10\n")
    assert "VERIFIED by" in out and witness.name in out
    status, verdict = run_json(capsys, "note", str(note), "--vkey", small.vkey)
    assert status == 0
    assert verdict["unknown_signers"] and str(verdict["unknown_signers"][0]).startswith(  # type: ignore[index]
        witness.name
    )


def test_note_not_verified(
    capsys: pytest.CaptureFixture[str], small: MemoryLedger, tmp_path: Path
) -> None:
    note = tmp_path / "note"
    note.write_bytes(small.checkpoints[10])
    stranger = format_verifier_key(small.origin, 0x01, b"\x11" * 32)
    status, verdict = run_json(capsys, "note", str(note), "--vkey", stranger)
    assert status in (1, 2)
    other = MemoryLedger.create(notes=0)
    status, verdict = run_json(capsys, "note", str(note), "--vkey", other.vkey)
    assert status == 1 and verdict["reason"] == "no signature by a given key"
    for damaged in (b"", b"\xff\xfe", small.checkpoints[10][:-3], b"text\n\n\xe2\x80\x94 x y\n"):
        note.write_bytes(damaged)
        status, verdict = run_json(capsys, "note", str(note), "--vkey", small.vkey)
        assert status == 1 and verdict["ok"] is False


# --- the import rule --------------------------------------------------------------------------


def test_auditor_imports_only_the_standard_library_and_cryptography(
    small: MemoryLedger, witness: Witness, tmp_path: Path
) -> None:
    """Import the command and verify a bundle and a proof: nothing else may be loaded."""
    directory = write_bundle(small, tmp_path / "bundle", witnesses=[witness])
    proof = tmp_path / "proof"
    proof.write_bytes(
        TlogProof(4, tuple(small.tree().inclusion_proof(4, 10)), small.checkpoints[10]).format()
    )
    entry = tmp_path / "entry"
    entry.write_bytes(small.entries[4].canonical)
    script = f"""
import json, sys
before = set(sys.modules)
from sequestra.audit.cli import main
statuses = [
    main(["bundle", {str(directory)!r}, "--vkey", {small.vkey!r},
          "--witness-vkey", {witness.vkey!r}, "--json"]),
    main(["proof", {str(entry)!r}, {str(proof)!r}, "--vkey", {small.vkey!r}, "--json"]),
]
print(json.dumps({{"statuses": statuses, "loaded": sorted(set(sys.modules) - before)}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["statuses"] == [0, 0]
    offending = [name for name in report["loaded"] if not _allowed(name)]
    assert offending == []
    assert "sequestra.ledger.replay" in report["loaded"]


def _allowed(module: str) -> bool:
    top = module.split(".")[0]
    if top == "sequestra":
        return (
            module in ("sequestra", "sequestra.errors", "sequestra.ledger", "sequestra.audit")
            # the valuation method: pure Decimal, re-run by `sequestra-audit valuation`
            or module == "sequestra.fairvalue"
            or module in PURE_LEDGER_MODULES
            or module
            in (
                "sequestra.audit.anchor",
                "sequestra.audit.bundle",
                "sequestra.audit.cli",
                "sequestra.audit.valuation",
            )
        )
    if module == "__mp_main__":  # multiprocessing's alias of the __main__ module
        return True
    return top in sys.stdlib_module_names or top in THIRD_PARTY_ALLOWED


def test_runs_as_a_module(small: MemoryLedger, bundle: Path) -> None:
    command = [sys.executable, "-m", "sequestra.audit.cli", "bundle", str(bundle)]
    ok = subprocess.run([*command, "--vkey", small.vkey], capture_output=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    (bundle / "tile/0/000.p/10").unlink()
    bad = subprocess.run([*command, "--vkey", small.vkey], capture_output=True, timeout=120)
    assert bad.returncode == 1 and b"tile/0/000.p/10 is missing" in bad.stdout
    usage = subprocess.run([*command, "--vkey", "nonsense"], capture_output=True, timeout=120)
    assert usage.returncode == 2 and b"Traceback" not in usage.stderr


def test_progress_only_on_a_terminal() -> None:
    import io

    from sequestra.audit.cli import _Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    with _Progress(terminal) as progress:
        assert progress.shown
        for done in range(0, 100_001, 4096):
            progress.update(done, 100_000)
        progress.update(100_000, 100_000)
    assert "checking entries: 100000/100000" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r\x1b[K")
    assert not _Progress(io.StringIO()).shown


@pytest.mark.parametrize("name", ["ledger.vkey", "keys/ledger.vkey", "ledgervkey"])
def test_a_missing_key_file_is_named_not_called_malformed(
    capsys: pytest.CaptureFixture[str], bundle: Path, tmp_path: Path, name: str
) -> None:
    """A `--vkey` naming a file that is not there says so (it used to be read as the key
    text and refused as a malformed key)."""
    missing = str(tmp_path / name) if "/" in name else name
    status, _, err = run(capsys, "bundle", str(bundle), "--vkey", missing)
    assert status == 2 and f"--vkey {missing}: no such file" in err
    assert "malformed" not in err and "Traceback" not in err


def test_a_missing_public_key_file_is_named() -> None:
    from sequestra.ledger.errors import KeyFileError
    from sequestra.ledger.keys import load_public_key

    with pytest.raises(KeyFileError, match=r"public key file keys/ledger\.pub: no such file"):
        load_public_key("keys/ledger.pub")
    with pytest.raises(KeyFileError, match="no such file, and not a base64 Ed25519"):
        load_public_key("var/ledger-public-key")
