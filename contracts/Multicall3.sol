// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// @title The part of the Multicall3 interface Sequestra's Ethereum watcher calls.
/// @notice Deployed on the sandbox node (anvil), where the canonical Multicall3 does not
/// exist. Real networks have the canonical contract at
/// 0xcA11bde05977b3631167028862bE2a173976CA11 with the same function signatures, so the
/// watcher speaks to both alike. Every function only reads state.
contract Multicall3 {
    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    /// A call that was not allowed to fail failed; `index` is its position in the batch.
    error CallFailed(uint256 index);

    /// @notice Make each call in order; a failure reverts all unless its `allowFailure`.
    function aggregate3(Call3[] calldata calls) external returns (Result[] memory results) {
        uint256 length = calls.length;
        results = new Result[](length);
        for (uint256 index = 0; index < length; ++index) {
            Call3 calldata call = calls[index];
            (bool success, bytes memory returnData) = call.target.call(call.callData);
            if (!success && !call.allowFailure) revert CallFailed(index);
            results[index] = Result(success, returnData);
        }
    }

    /// @notice The native balance of `account`, in wei.
    function getEthBalance(address account) external view returns (uint256 balance) {
        balance = account.balance;
    }

    /// @notice The number of the block the call executes in.
    function getBlockNumber() external view returns (uint256 blockNumber) {
        blockNumber = block.number;
    }

    /// @notice The hash of block `blockNumber`: zero unless among the 256 before this one.
    function getBlockHash(uint256 blockNumber) external view returns (bytes32 blockHash) {
        blockHash = blockhash(blockNumber);
    }
}
