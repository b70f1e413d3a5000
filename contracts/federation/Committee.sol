// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {StakeTree} from "../lib/StakeTree.sol";
import {Rounds} from "./Rounds.sol";

/// @title Committee
/// @notice The validator committee: `committeeSize` seats drawn with replacement in proportion to draw
///         weight (stake; splitting it over accounts changes nothing), seeded by the prevrandao of a block
///         fixed before anyone can know it, then hidden scores (commit, reveal), one byte per update.
abstract contract Committee is Rounds {
    /// @notice Draw the committee (anyone, phase Select). It runs only in the armed block `drawBlock`, two
    ///         blocks after the last reveal (or after the arming call, when reveals closed by deadline),
    ///         seeded by that block's prevrandao. A call before that block does nothing (on an automining
    ///         chain it is the block in between); a call after it re-arms. Draw weights are frozen from arming
    ///         to drawing, and weight added during the round is not in the tree yet.
    /// @param round the round whose reveals are closed
    /// @return drawn true if the committee was drawn by this call
    function drawCommittee(uint256 round) external returns (bool drawn) {
        Round storage r = _rounds[round];
        if (r.stage != STAGE_COMMIT || _phase(round) != RoundPhase.Select) {
            revert WrongPhase(round, _phase(round), RoundPhase.Select);
        }
        uint256 armed = r.drawBlock;
        if (armed != 0 && block.number < armed) return false;
        if (armed == 0 || block.number > armed) {
            _armDraw(round, r);
            return false;
        }
        bytes32 seed = keccak256(abi.encode(block.prevrandao, round, address(this)));
        r.committeeSeed = seed;
        _draw(round, r, seed);
        r.stage = STAGE_VOTING;
        uint64 voteCommitDeadline = uint64(block.timestamp) + votePeriod;
        r.voteCommitDeadline = voteCommitDeadline;
        r.voteRevealDeadline = voteCommitDeadline + votePeriod;
        r.attestDeadline = r.voteRevealDeadline + attestPeriod;
        uint256 k = r.committeeLen;
        address[] memory committee = new address[](k);
        uint8[] memory seats = new uint8[](k);
        for (uint256 p = 1; p <= k; p++) {
            Seat storage s = _seats[round][p];
            committee[p - 1] = s.member;
            seats[p - 1] = s.seats;
            _members[s.member].pendingDuties += 1;
        }
        emit CommitteeSelected(
            round,
            committee,
            seats,
            seed,
            voteCommitDeadline,
            r.voteRevealDeadline,
            r.attestDeadline
        );
        return true;
    }

    /// @dev Every weight in the tree is drawable (see _syncDrawWeight), so every seat is filled.
    function _draw(uint256 round, Round storage r, bytes32 seed) private {
        uint256 total = _tree.total;
        if (total == 0) return;
        uint256 seats = committeeSize;
        uint256 len = 0;
        for (uint256 k = 0; k < seats; k++) {
            uint256 x = uint256(keccak256(abi.encode(seed, k))) % total;
            address who = _indexOwner[StakeTree.find(_tree, x)];
            uint256 pos = _positionOf[round][who];
            if (pos == 0) {
                pos = ++len;
                _positionOf[round][who] = pos;
                _seats[round][pos].member = who;
            }
            _seats[round][pos].seats += 1;
        }
        r.committeeLen = uint8(len);
        r.totalSeats = uint8(seats);
    }

    /// @notice Commit to hidden scores: `keccak256(abi.encode(scores, salt, msg.sender, round))`.
    /// @param round the round being judged
    /// @param commitment the hash of the scores to reveal
    function commitVote(uint256 round, bytes32 commitment) external {
        if (commitment == bytes32(0)) revert EmptyValue();
        if (_phase(round) != RoundPhase.VoteCommit) revert WrongPhase(round, _phase(round), RoundPhase.VoteCommit);
        (uint256 pos, Seat storage s) = _seatOf(round, msg.sender);
        if (s.flags & SEAT_VOTE_COMMITTED != 0) revert AlreadyVoted(msg.sender, round);
        s.flags |= SEAT_VOTE_COMMITTED;
        _voteCommitments[round][pos] = commitment;
        _rounds[round].voteCommits += 1;
        emit VoteCommitted(round, msg.sender, commitment);
    }

    /// @notice Reveal the committed scores: byte i scores the i-th revealed update (0 = harmful or unusable,
    ///         255 = best). Scores of the member's own update are ignored.
    /// @param round the round being judged
    /// @param scores one byte per revealed update
    /// @param salt the salt used in the vote commitment
    function revealVote(uint256 round, bytes calldata scores, bytes32 salt) external {
        if (_phase(round) != RoundPhase.VoteReveal) revert WrongPhase(round, _phase(round), RoundPhase.VoteReveal);
        (uint256 pos, Seat storage s) = _seatOf(round, msg.sender);
        if (s.flags & SEAT_VOTE_COMMITTED == 0) revert VoteNotCommitted(msg.sender, round);
        if (s.flags & SEAT_VOTE_REVEALED != 0) revert AlreadyVoted(msg.sender, round);
        Round storage r = _rounds[round];
        uint256 n = r.revealCount;
        if (scores.length != n) revert InvalidScores(n, scores.length);
        if (_voteCommitments[round][pos] != keccak256(abi.encode(scores, salt, msg.sender, round))) {
            revert VoteMismatch(msg.sender, round);
        }
        s.flags |= SEAT_VOTE_REVEALED;
        r.voteReveals += 1;
        r.revealedSeats += s.seats;
        mapping(uint256 => uint256) storage words = _scores[round][pos];
        uint256 wordCount = (n + 31) / 32;
        for (uint256 w = 0; w < wordCount; w++) {
            words[w] = uint256(bytes32(scores[w * 32:w * 32 + 32 > n ? n : w * 32 + 32]));
        }
        emit VoteRevealed(round, msg.sender, scores);
    }

    function _seatOf(uint256 round, address account) internal view returns (uint256 pos, Seat storage s) {
        pos = _positionOf[round][account];
        if (pos == 0) revert NotCommitteeMember(account, round);
        s = _seats[round][pos];
    }

    /// @dev Score of update `i` from committee position `pos` (byte i of the packed vector).
    function _scoreAt(uint256 round, uint256 pos, uint256 i) internal view returns (uint8) {
        return uint8(_scores[round][pos][i / 32] >> (8 * (31 - (i % 32))));
    }
}
