// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Membership} from "./Membership.sol";

/// @title Rounds
/// @notice Opening rounds and the commit-reveal of updates. A round's cohort is every member registered
///         before it started while they fit in `cohortSize`; beyond that, members hold a ticket each and
///         about `cohortSize` of them win (checked in O(1) at commit, no scan of the membership).
abstract contract Rounds is Membership {
    /// @notice Open the next round (anyone). Needs the previous round done, a member and a funded pool.
    /// @return round the number of the round opened
    function startRound() external returns (uint256 round) {
        uint256 prev = currentRound;
        if (prev >= numRounds) revert AllRoundsDone(numRounds);
        if (_phase(prev) != RoundPhase.Done) revert PreviousRoundOpen(prev);
        _closeRound(prev);
        uint256 n = memberCount;
        if (n == 0) revert NoParticipants();
        uint256 reward = rewardPerRound;
        if (pool < reward) revert PoolUnderfunded(pool, reward);
        pool -= reward;
        reserved += reward;
        round = prev + 1;
        currentRound = uint32(round);
        Round storage r = _rounds[round];
        r.stage = STAGE_COMMIT;
        bool lottery = n > cohortSize;
        r.lottery = lottery;
        r.expectedCommitters = uint16(lottery ? cohortSize : n);
        r.membersAtStart = uint32(n);
        r.startTime = uint64(block.timestamp);
        r.commitDeadline = uint64(block.timestamp) + commitPeriod;
        r.revealDeadline = r.commitDeadline + revealPeriod;
        r.reward = uint128(reward);
        r.reserveLeft = uint128(reward);
        // The caller of startRound can pick the block, so the ticket seed only decides training slots
        // (each capped in reward by maxShareBps), never committee seats.
        r.cohortSeed = uint64(uint256(keccak256(abi.encode(blockhash(block.number - 1), round, address(this)))));
        emit RoundStarted(
            round,
            _rounds[prev].globalModel,
            r.commitDeadline,
            r.revealDeadline,
            r.expectedCommitters,
            reward,
            lottery
        );
    }

    /// @notice Commit to an update:
    ///         `commitment = keccak256(abi.encode(cidDigest, salt, samples, msg.sender, round))`.
    /// @param round the open round
    /// @param commitment the hash binding the caller to its update and its sample count
    function commitUpdate(uint256 round, bytes32 commitment) external {
        if (commitment == bytes32(0)) revert EmptyValue();
        Round storage r = _rounds[round];
        if (r.stage != STAGE_COMMIT || !_commitOpen(r)) revert WrongPhase(round, _phase(round), RoundPhase.Commit);
        Member storage m = _registered(msg.sender);
        if (m.eligibleFrom > round) revert NotEligible(msg.sender, round, m.eligibleFrom);
        if (m.commitRound == round) revert AlreadyCommitted(msg.sender, round);
        if (m.flags & FLAG_SETTLED == 0) revert UnsettledRound(msg.sender, m.commitRound);
        if (m.stake < minStake) revert StakeTooLow(m.stake, minStake);
        if (r.lottery && !_wins(r, msg.sender)) revert NotInCohort(msg.sender, round);
        m.commitRound = uint32(round);
        m.flags = FLAG_REGISTERED | FLAG_KNOWN;
        m.commitment = commitment;
        r.commitCount += 1;
        emit UpdateCommitted(round, msg.sender, commitment);
    }

    /// @notice Reveal the committed update; reverts unless it hashes to the commitment.
    /// @param round the round committed in
    /// @param cidDigest sha2-256 digest of the update's CIDv0: never a global model nor an earlier round's
    ///        update. The same CID twice in one round is judged as usual but no copy is paid: squatting a
    ///        CID learnt before its reveal earns nothing, and a rejected copy is still slashed
    /// @param salt the salt used in the commitment
    /// @param samples training samples behind the update, 1..maxSamples (part of the commitment)
    function revealUpdate(uint256 round, bytes32 cidDigest, bytes32 salt, uint32 samples) external {
        if (cidDigest == bytes32(0)) revert EmptyValue();
        Round storage r = _rounds[round];
        if (r.stage != STAGE_COMMIT || !_revealOpen(r)) revert WrongPhase(round, _phase(round), RoundPhase.Reveal);
        Member storage m = _members[msg.sender];
        if (m.commitRound != round || m.flags & FLAG_REGISTERED == 0) revert NotCommitted(msg.sender, round);
        if (m.flags & FLAG_REVEALED != 0) revert AlreadyRevealed(msg.sender, round);
        if (m.commitment != keccak256(abi.encode(cidDigest, salt, samples, msg.sender, round))) {
            revert RevealMismatch(msg.sender, round);
        }
        if (samples == 0 || samples > maxSamples) revert SamplesOutOfRange(samples, maxSamples);
        uint16 order = r.revealCount;
        uint16 rep = m.reputation;
        uint256 weight = uint256(samples) * rep;
        uint256 seen = _cidSeen[cidDigest];
        if (seen == 0) {
            _cidSeen[cidDigest] = (weight << 48) | ((round + 1) << 16) | (uint256(order) + 1);
            r.weightSum += uint56(weight);
        } else {
            // A copy: it never weighs in the reward divisor, and neither does its first copy any more, so
            // copies cannot dilute anyone's share.
            uint256 seenOrder = seen & 0xffff;
            uint256 seenRound = (seen >> 16) & 0xffffffff;
            if (seenRound != round + 1 || seenOrder == 0) revert DuplicateUpdate(cidDigest, seenRound - 1);
            if (!_isDuplicate(round, seenOrder - 1)) {
                r.weightSum -= uint56(seen >> 48);
                _markDuplicate(round, seenOrder - 1);
            }
            _markDuplicate(round, order);
        }
        r.revealCount = order + 1;
        m.samples = samples;
        m.revealOrder = order;
        m.revealReputation = rep;
        m.flags = FLAG_REGISTERED | FLAG_KNOWN | FLAG_REVEALED;
        // The last reveal closes the phase and arms the draw (weights freeze now; see drawCommittee).
        if (order + 1 == r.commitCount) _armDraw(round, r);
        emit UpdateRevealed(round, msg.sender, order, cidDigest, samples, rep);
    }

    /// @notice True when `account` may commit in `round` as far as the cohort goes (its ticket won, or
    ///         every member fits).
    /// @param round a started round
    /// @param account the member
    /// @return whether the account holds a cohort seat
    function inCohort(uint256 round, address account) external view returns (bool) {
        Round storage r = _rounds[round];
        return r.stage != STAGE_NONE && (!r.lottery || _wins(r, account));
    }

    /// @dev About `cohortSize` of `membersAtStart` tickets win: keccak(seed, account) below the threshold.
    function _wins(Round storage r, address account) internal view returns (bool) {
        uint256 threshold = (type(uint256).max / r.membersAtStart) * cohortSize;
        return uint256(keccak256(abi.encode(r.cohortSeed, account))) < threshold;
    }

    /// @dev The draw runs in the block two after arming: its prevrandao is unknown to whoever builds the
    ///      arming block (it is fixed by the next proposer's RANDAO reveal), and weights are frozen from the
    ///      arming transaction on, so nobody who knows the seed can still move a weight.
    function _armDraw(uint256 round, Round storage r) internal {
        uint64 target = uint64(block.number) + 2;
        r.drawBlock = target;
        emit DrawArmed(round, target);
    }

    function _markDuplicate(uint256 round, uint256 order) private {
        _duplicates[round][order / 256] |= uint256(1) << (order % 256);
    }

    function _isDuplicate(uint256 round, uint256 order) internal view returns (bool) {
        return (_duplicates[round][order / 256] >> (order % 256)) & 1 == 1;
    }

    /// @dev Persist a Done round: its global model, and the reserve when nothing can be paid from it.
    function _closeRound(uint256 round) internal virtual;
}
