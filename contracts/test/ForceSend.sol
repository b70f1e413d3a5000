// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ForceSend
/// @notice Test-only: forces the ETH sent at deployment into `target` without calling it (selfdestruct in
///         the constructor sends the balance even to a contract that would refuse a call).
contract ForceSend {
    /// @param target the account that receives the ETH
    constructor(address payable target) payable {
        selfdestruct(target);
    }
}
