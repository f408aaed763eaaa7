#!/usr/bin/env node
// Compile the sandbox contracts (contracts/*.sol) with the npm solc pinned in package.json
// and write one JSON artifact per contract (ABI, creation and runtime bytecode) to
// contracts/artifacts/, or to the directory given with --out. The artifacts are committed:
// tests and the sandbox load them, and a test recompiles to check they have not drifted.
//
//   node scripts/compile-contracts.js [--out DIR]
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const solc = require("solc");

const ROOT = path.resolve(__dirname, "..");
const SOURCES = ["SandboxToken.sol", "Multicall3.sol"];
// Every compiler option explicit. "paris" emits no PUSH0 or MCOPY, so the contracts deploy
// on any anvil hardfork from London on. No metadata hash: the bytecode depends on the code
// only; the artifact records the source's SHA-256 instead.
const SETTINGS = {
  evmVersion: "paris",
  optimizer: { enabled: true, runs: 200 },
  viaIR: false,
  metadata: { bytecodeHash: "none", appendCBOR: false },
  outputSelection: {
    "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
  },
};

function outputDirectory(argv) {
  const index = argv.indexOf("--out");
  if (index === -1) return path.join(ROOT, "contracts", "artifacts");
  if (index + 1 >= argv.length) throw new Error("--out: expected a directory");
  return path.resolve(argv[index + 1]);
}

function compile(fileName) {
  const content = fs.readFileSync(path.join(ROOT, "contracts", fileName), "utf8");
  const input = {
    language: "Solidity",
    sources: { [fileName]: { content } },
    settings: SETTINGS,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const problems = (output.errors || []).map((error) => error.formattedMessage);
  if (problems.length > 0) {
    // Warnings fail too: the sandbox contracts are small enough to have none.
    throw new Error(`${fileName}: expected no errors or warnings, got:\n${problems.join("\n")}`);
  }
  const contracts = output.contracts[fileName];
  const sha256 = crypto.createHash("sha256").update(content, "utf8").digest("hex");
  return Object.entries(contracts).map(([name, contract]) => ({
    contract: name,
    source: `contracts/${fileName}`,
    source_sha256: sha256,
    compiler: `solc ${solc.version()}`,
    settings: SETTINGS,
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployed_bytecode: `0x${contract.evm.deployedBytecode.object}`,
  }));
}

function main() {
  const directory = outputDirectory(process.argv.slice(2));
  fs.mkdirSync(directory, { recursive: true });
  for (const fileName of SOURCES) {
    for (const artifact of compile(fileName)) {
      const target = path.join(directory, `${artifact.contract}.json`);
      fs.writeFileSync(target, `${JSON.stringify(artifact, null, 2)}\n`);
      process.stdout.write(`${path.relative(process.cwd(), target)}\n`);
    }
  }
}

main();
