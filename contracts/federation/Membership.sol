// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {StakeTree} from "../lib/StakeTree.sol";
import {FederationState} from "./FederationState.sol";

/// @title Membership
/// @notice Joining, staking, leaving and withdrawing. Membership is open (up to 2^20 concurrent member
///         slots); reputation survives `leave`, and an address that left waits `rejoinCooldown` to return.
abstract contract Membership is FederationState {
    /// @notice Register the caller with the ETH sent as stake; it may commit from the next round on. Its
    ///         stake weighs in committee draws once the current round's committee is drawn.
    function register() external payable {
        Member storage m = _members[msg.sender];
        if (m.flags & FLAG_REGISTERED != 0) revert AlreadyRegistered(msg.sender);
        if (block.timestamp < m.cooldownUntil) revert RejoinCooldown(msg.sender, m.cooldownUntil);
        if (msg.value < minStake) revert StakeTooLow(msg.value, minStake);
        if (msg.value > type(uint96).max) revert StakeTooLarge(msg.value);
        uint256 index;
        if (_freeIndices.length > 0) {
            index = _freeIndices[_freeIndices.length - 1];
            _freeIndices.pop();
        } else {
            // Reserved now: the stake may wait for this round's draw before it enters the tree.
            if (_tree.size >= StakeTree.CAPACITY) revert FederationFull(StakeTree.CAPACITY);
            index = StakeTree.reserveNext(_tree);
        }
        _indexOwner[index] = msg.sender;
        m.treeIndex = uint32(index);
        if (m.flags & FLAG_KNOWN == 0) {
            m.reputation = INITIAL_REPUTATION;
            // Pay the commitment slot's creation here, once, so every commit rewrites a live slot.
            m.commitment = bytes32(uint256(1));
        }
        // A fresh member has nothing to settle; a returning one settled everything before it left.
        m.flags = FLAG_REGISTERED | FLAG_KNOWN | FLAG_SETTLED;
        uint32 eligibleFrom = currentRound + 1;
        m.eligibleFrom = eligibleFrom;
        memberCount += 1;
        _setStake(msg.sender, m, msg.value);
        emit ClientRegistered(msg.sender, msg.value, m.reputation, eligibleFrom);
    }

    /// @notice Add the ETH sent to the caller's stake (it weighs in draws after the current round's draw).
    function addStake() external payable {
        if (msg.value == 0) revert ZeroAmount();
        Member storage m = _registered(msg.sender);
        if (uint256(m.stake) + msg.value > type(uint96).max) revert StakeTooLarge(uint256(m.stake) + msg.value);
        _setStake(msg.sender, m, uint256(m.stake) + msg.value);
    }

    /// @notice Send `amount` of the caller's stake back; at least `minStake` must remain. Not while engaged.
    /// @param amount wei to take out of the stake
    function withdrawStake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Member storage m = _free(msg.sender);
        uint256 stake = m.stake;
        if (amount > stake || stake - amount < minStake) {
            revert StakeBelowMinimum(amount > stake ? 0 : stake - amount, minStake);
        }
        _setStake(msg.sender, m, stake - amount);
        _send(msg.sender, amount);
    }

    /// @notice Deregister the caller; its whole stake becomes withdrawable. Every update and committee duty
    ///         of the caller must be settled first (no escape from a pending slash).
    function leave() external {
        Member storage m = _free(msg.sender);
        _release(msg.sender, m, false);
    }

    /// @notice Move `account`'s waiting stake into the committee draw (anyone; a no-op while the current
    ///         round's committee is still to be drawn, and when nothing waits).
    /// @param account the member
    function activateStake(address account) external {
        _syncDrawWeight(account, _registered(account));
    }

    /// @notice Leave without settling, only if the current round is stuck: not done `EMERGENCY_DELAY` after
    ///         it started. Every phase has a deadline, so this is a last resort that should never be needed.
    function emergencyExit() external {
        Member storage m = _registered(msg.sender);
        uint256 cur = currentRound;
        uint256 stuckAfter = uint256(_rounds[cur].startTime) + EMERGENCY_DELAY;
        if (cur == 0 || _phase(cur) == RoundPhase.Done || block.timestamp <= stuckAfter) {
            revert NotStuck(cur, stuckAfter);
        }
        m.flags |= FLAG_SETTLED; // forfeits any reward of its open update
        // Open committee duties stay counted: a member that comes back settles them before leaving again.
        _release(msg.sender, m, true);
    }

    /// @notice Send the caller everything it is owed (rewards and stake released by `leave`).
    function withdraw() external nonReentrant {
        uint256 amount = _balances[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        _balances[msg.sender] = 0;
        totalWithdrawable -= amount;
        emit Withdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    function _release(address account, Member storage m, bool emergency) private {
        Round storage r = _rounds[currentRound];
        // An eligible member that leaves before committing is no longer awaited by the commit phase.
        if (
            r.stage == STAGE_COMMIT &&
            !r.lottery &&
            m.eligibleFrom <= currentRound &&
            m.commitRound != currentRound &&
            r.expectedCommitters > r.commitCount
        ) {
            r.expectedCommitters -= 1;
        }
        uint256 stake = m.stake;
        m.flags &= ~FLAG_REGISTERED;
        _setStake(account, m, 0);
        uint256 index = m.treeIndex;
        _freeIndices.push(uint32(index));
        delete _indexOwner[index];
        m.treeIndex = 0;
        m.cooldownUntil = uint64(block.timestamp) + rejoinCooldown;
        memberCount -= 1;
        _credit(account, stake);
        emit ClientLeft(account, stake, emergency);
    }

    function _registered(address account) internal view returns (Member storage m) {
        m = _members[account];
        if (m.flags & FLAG_REGISTERED == 0) revert NotRegistered(account);
    }

    /// @dev A member with no unsettled update and no unsettled committee duty.
    function _free(address account) internal view returns (Member storage m) {
        m = _registered(account);
        if (m.flags & FLAG_SETTLED == 0) revert EngagedInRound(account, m.commitRound);
        if (m.pendingDuties != 0) revert EngagedInRound(account, currentRound);
    }
}
