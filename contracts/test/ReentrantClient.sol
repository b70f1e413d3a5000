// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice The federation entry points this client uses.
interface IFederation {
    function register() external payable;
    function leave() external;
    function withdraw() external;
    function withdrawStake(uint256 amount) external;
}

/// @title ReentrantClient
/// @notice Test-only client that tries to re-enter `withdraw` or `withdrawStake` from its receive hook.
contract ReentrantClient {
    /// @notice The federation under attack.
    IFederation public federation;
    /// @notice How many times the receive hook ran.
    uint256 public received;
    /// @notice When non-zero, the hook re-enters `withdrawStake(reenterStake)` instead of `withdraw`.
    uint256 public reenterStake;

    /// @notice Emitted when ETH arrives.
    event Received(uint256 amount);

    /// @param federation_ the federation to attack
    constructor(IFederation federation_) {
        federation = federation_;
    }

    /// @notice Register with the ETH sent as stake.
    function join() external payable {
        federation.register{value: msg.value}();
    }

    /// @notice Leave the federation (stake becomes withdrawable).
    function quit() external {
        federation.leave();
    }

    /// @notice Withdraw; the receive hook re-enters `withdraw`.
    function attack() external {
        reenterStake = 0;
        federation.withdraw();
    }

    /// @notice Take `amount` of stake out; the receive hook re-enters `withdrawStake(amount)`.
    /// @param amount wei of stake
    function attackStake(uint256 amount) external {
        reenterStake = amount;
        federation.withdrawStake(amount);
    }

    /// @notice Re-enter on the first payment (complex on purpose: this is the attack).
    // solhint-disable-next-line no-complex-fallback
    receive() external payable {
        received += 1;
        emit Received(msg.value);
        if (received == 1) {
            if (reenterStake == 0) federation.withdraw();
            else federation.withdrawStake(reenterStake);
        }
    }
}
