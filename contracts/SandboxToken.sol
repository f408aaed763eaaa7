// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// @title A plain ERC-20 for the Sequestra sandbox (a local anvil node) and nothing else.
/// @notice Six decimals, like the dollar stablecoins custody holds. The deployer alone may
/// mint; there is no other privilege, no fee, no pause and no upgrade.
contract SandboxToken {
    /// Bounds one `mintBatch`: about 26,000 gas a recipient, 13 million at most, well
    /// inside a 30-million-gas block.
    uint256 public constant MINT_BATCH_MAX = 500;

    string public name;
    string public symbol;
    uint8 public constant decimals = 6;
    uint256 public totalSupply;
    address public immutable minter;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    error NotMinter(address caller);
    error ZeroAddress();
    error BalanceTooLow(address account, uint256 balance, uint256 needed);
    error AllowanceTooLow(address owner, address spender, uint256 allowance, uint256 needed);
    error BatchLengths(uint256 recipients, uint256 values);
    error BatchTooLarge(uint256 length, uint256 lengthMax);

    constructor(string memory tokenName, string memory tokenSymbol) {
        name = tokenName;
        symbol = tokenSymbol;
        minter = msg.sender;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        if (spender == address(0)) revert ZeroAddress();
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < value) revert AllowanceTooLow(from, msg.sender, allowed, value);
            allowance[from][msg.sender] = allowed - value;
        }
        _move(from, to, value);
        return true;
    }

    /// @notice Create `value` base units for `to` (the deployer only).
    function mint(address to, uint256 value) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        _mint(to, value);
    }

    /// @notice Create `values[i]` base units for each `recipients[i]` (the deployer only).
    function mintBatch(address[] calldata recipients, uint256[] calldata values) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        if (recipients.length != values.length) {
            revert BatchLengths(recipients.length, values.length);
        }
        if (recipients.length > MINT_BATCH_MAX) {
            revert BatchTooLarge(recipients.length, MINT_BATCH_MAX);
        }
        for (uint256 index = 0; index < recipients.length; ++index) {
            _mint(recipients[index], values[index]);
        }
    }

    function _mint(address to, uint256 value) private {
        if (to == address(0)) revert ZeroAddress();
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function _move(address from, address to, uint256 value) private {
        if (to == address(0)) revert ZeroAddress();
        uint256 balance = balanceOf[from];
        if (balance < value) revert BalanceTooLow(from, balance, value);
        balanceOf[from] = balance - value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
