// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice The federation entry points this client uses.
interface IDrawFederation {
    function register() external payable;
    function commitUpdate(uint256 round, bytes32 commitment) external;
    function revealUpdate(uint256 round, bytes32 cidDigest, bytes32 salt, uint32 samples) external;
    function drawCommittee(uint256 round) external returns (bool);
    function leave() external;
    function withdraw() external;
    function withdrawStake(uint256 amount) external;
}

/// @title RevealAndDraw
/// @notice Test-only contract client of the committee-draw attack (issue 9, item 7): it reveals last and
///         tries to draw the committee in the same transaction, so that it could revert whenever the draw is
///         not to its liking and try again. It has no `receive`, so ETH sent to it fails.
contract RevealAndDraw {
    /// @notice The federation under attack.
    IDrawFederation public federation;

    /// @param federation_ the federation to attack
    constructor(IDrawFederation federation_) {
        federation = federation_;
    }

    /// @notice Register with the ETH sent as stake.
    function join() external payable {
        federation.register{value: msg.value}();
    }

    /// @notice Commit as this contract (the commitment names this contract's address).
    /// @param round the round
    /// @param commitment the commitment
    function commit(uint256 round, bytes32 commitment) external {
        federation.commitUpdate(round, commitment);
    }

    /// @notice Reveal only.
    /// @param round the round
    /// @param cidDigest the update
    /// @param salt the commitment salt
    /// @param samples the committed sample count
    function reveal(uint256 round, bytes32 cidDigest, bytes32 salt, uint32 samples) external {
        federation.revealUpdate(round, cidDigest, salt, samples);
    }

    /// @notice The attack: reveal last, then draw in the same transaction.
    /// @param round the round
    /// @param cidDigest the update
    /// @param salt the commitment salt
    /// @param samples the committed sample count
    function revealAndDraw(uint256 round, bytes32 cidDigest, bytes32 salt, uint32 samples) external {
        federation.revealUpdate(round, cidDigest, salt, samples);
        federation.drawCommittee(round);
    }

    /// @notice The same attack when reveals closed by deadline: arm the draw and run it in one transaction.
    /// @param round the round
    function armAndDraw(uint256 round) external {
        federation.drawCommittee(round);
        federation.drawCommittee(round);
    }

    /// @notice Leave the federation.
    function quit() external {
        federation.leave();
    }

    /// @notice Withdraw (fails: this contract refuses ETH).
    function withdraw() external {
        federation.withdraw();
    }

    /// @notice Take stake out (fails: this contract refuses ETH).
    /// @param amount wei of stake
    function unstake(uint256 amount) external {
        federation.withdrawStake(amount);
    }
}
