// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice The federation views the ledger reads.
interface ILedgerFederation {
    function totalStaked() external view returns (uint256);
    function totalWithdrawable() external view returns (uint256);
    function pool() external view returns (uint256);
    function reserved() external view returns (uint256);
    function burned() external view returns (uint256);
    function currentRound() external view returns (uint32);
    function phase(uint256 round) external view returns (uint8);
}

/// @title Ledger
/// @notice Test-only: a federation's balance, its five books, its current round and that round's phase in one
///         call, so the money-conservation tests check every step with one read instead of eight.
contract Ledger {
    /// @notice The books of `federation`.
    /// @param federation the federation
    /// @return books balance, totalStaked, totalWithdrawable, pool, reserved, burned, currentRound, phase
    function read(ILedgerFederation federation) external view returns (uint256[8] memory books) {
        uint256 round = federation.currentRound();
        books = [
            address(federation).balance,
            federation.totalStaked(),
            federation.totalWithdrawable(),
            federation.pool(),
            federation.reserved(),
            federation.burned(),
            round,
            federation.phase(round)
        ];
    }
}
