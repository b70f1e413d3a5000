// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {WeightedMedian} from "../lib/WeightedMedian.sol";
import {Committee} from "./Committee.sol";

/// @title Settlement
/// @notice Outcomes, reputation, rewards and slashes, one update or one committee member at a time, so no
///         transaction grows with the federation. An update's outcome follows from the seat-weighted median
///         of the scores of the committee members who revealed (its own trainer's seats excluded), with a
///         quorum of more than half of the other seats; ties and missing quorums are "unvalidated".
abstract contract Settlement is Committee {
    /// @dev The committee members who revealed scores, loaded once per `settle` call.
    struct Voters {
        uint256[] positions;
        uint256[] seats;
    }

    /// @notice Settle these committers' updates of `round` (anyone, once votes are closed; any batch size;
    ///         entries already settled are skipped, so racing batches do not revert each other).
    ///         Accepted: reward ∝ samples x reputation (capped at `maxShareBps`) x score, +10 reputation.
    ///         Rejected: slash, -20. Committed but never revealed: slash, -30. Neutral or unvalidated:
    ///         nothing. A CID revealed twice in the round is never paid (accepted copies count as neutral).
    ///         Not while a committee draw is armed.
    /// @param round the round
    /// @param trainers committers of `round`
    function settle(uint256 round, address[] calldata trainers) external {
        if (!_votesClosed(round)) revert WrongPhase(round, _phase(round), RoundPhase.Aggregate);
        _requireNoDrawPending();
        Round storage r = _rounds[round];
        Voters memory v = _voters(round, r);
        for (uint256 i = 0; i < trainers.length; i++) _settleTrainer(round, r, v, trainers[i]);
    }

    /// @notice Settle a committee member's round (anyone), once every update is settled or the cut-off
    ///         (attest deadline + one attest period) passed. Pays its seats for each decision it agreed with;
    ///         a member that never revealed scores is slashed.
    /// @param round the round
    /// @param validator the committee member
    function settleValidator(uint256 round, address validator) external {
        if (!_votesClosed(round)) revert WrongPhase(round, _phase(round), RoundPhase.Aggregate);
        _requireNoDrawPending();
        Round storage r = _rounds[round];
        (uint256 pos, Seat storage s) = _seatOf(round, validator);
        if (s.flags & SEAT_SETTLED != 0) revert AlreadySettled(validator, round);
        uint256 unsettled = r.commitCount - r.settledCount;
        if (unsettled > 0 && !_cutoffPassed(r)) revert SettlementOpen(round, unsettled);
        s.flags |= SEAT_SETTLED;
        r.validatorsSettled += 1;
        Member storage m = _members[validator];
        if (m.pendingDuties > 0) m.pendingDuties -= 1;
        if (m.flags & FLAG_REGISTERED == 0) return; // left by emergency exit: nothing to pay or slash
        if (s.flags & SEAT_VOTE_REVEALED == 0) {
            uint256 slashed = _slash(m);
            m.reputation = _repDown(m.reputation, REP_SILENT_VALIDATOR_DOWN);
            _syncDrawWeight(validator, m);
            emit ValidatorSettled(round, validator, ValidatorOutcome.Silent, 0, 0, m.reputation, 0, slashed);
            return;
        }
        uint256 decisions = r.decidedCount - (s.flags & SEAT_OWN_DECIDED != 0 ? 1 : 0);
        uint256 agreed = (_agreements[round][(pos - 1) / 16] >> (16 * ((pos - 1) % 16))) & 0xffff;
        uint256 earned = _payFromReserve(r, validator, (agreed * s.seats * _validatorBudget(r)) / r.totalSeats);
        ValidatorOutcome outcome = ValidatorOutcome.Agreed;
        if (decisions > 0) {
            if (agreed * 2 >= decisions) {
                m.reputation = _repUp(m.reputation, REP_VALIDATOR_AGREE_UP);
            } else {
                outcome = ValidatorOutcome.Minority;
                m.reputation = _repDown(m.reputation, REP_VALIDATOR_MINORITY_DOWN);
            }
            _syncDrawWeight(validator, m);
        }
        emit ValidatorSettled(
            round,
            validator,
            outcome,
            uint16(agreed),
            uint16(decisions),
            m.reputation,
            earned,
            0
        );
    }

    /// @notice Return what is left of a round's reserve to the pool (anyone): once every update and every
    ///         committee member is settled, or `RESERVE_EXPIRY` after the round's last deadline.
    /// @param round a done round
    function releaseReserve(uint256 round) external {
        Round storage r = _rounds[round];
        if (round == 0 || _phase(round) != RoundPhase.Done || r.reserveReleased) revert ReserveLocked(round);
        bool allSettled = r.settledCount == r.commitCount && r.validatorsSettled == r.committeeLen;
        uint256 last = r.attestDeadline > r.revealDeadline ? r.attestDeadline : r.revealDeadline;
        if (!allSettled && block.timestamp <= last + RESERVE_EXPIRY) revert ReserveLocked(round);
        _releaseReserve(round, r);
    }

    function _releaseReserve(uint256 round, Round storage r) internal {
        uint256 amount = r.reserveLeft;
        r.reserveLeft = 0;
        r.reserveReleased = true;
        reserved -= amount;
        pool += amount;
        emit ReserveReleased(round, amount);
    }

    function _voters(uint256 round, Round storage r) private view returns (Voters memory v) {
        uint256 k = r.committeeLen;
        uint256 count = r.voteReveals;
        v.positions = new uint256[](count);
        v.seats = new uint256[](count);
        uint256 j = 0;
        for (uint256 p = 1; p <= k && j < count; p++) {
            Seat storage s = _seats[round][p];
            if (s.flags & SEAT_VOTE_REVEALED == 0) continue;
            v.positions[j] = p;
            v.seats[j] = s.seats;
            j++;
        }
    }

    function _settleTrainer(uint256 round, Round storage r, Voters memory v, address trainer) private {
        Member storage m = _members[trainer];
        if (m.commitRound != round || m.flags & FLAG_REGISTERED == 0) revert NotCommitted(trainer, round);
        if (m.flags & FLAG_SETTLED != 0) return; // a racing batch got here first
        m.flags |= FLAG_SETTLED;
        r.settledCount += 1;
        if (m.flags & FLAG_REVEALED == 0) {
            uint256 slashed = _slash(m);
            m.reputation = _repDown(m.reputation, REP_SILENT_COMMITTER_DOWN);
            _syncDrawWeight(trainer, m);
            emit TrainerSettled(round, trainer, TrainerOutcome.SilentCommitter, 0, m.reputation, 0, slashed);
            return;
        }
        uint256 own = _positionOf[round][trainer];
        (TrainerOutcome outcome, uint256 score) = _judge(round, r, v, m.revealOrder, own);
        bool copy = _isDuplicate(round, m.revealOrder);
        if (outcome == TrainerOutcome.Accepted && copy) outcome = TrainerOutcome.Neutral;
        uint256 share = copy ? 0 : _trainerShare(r, m); // copies are not in weightSum
        uint256 earned = 0;
        uint256 slashedAmount = 0;
        if (outcome == TrainerOutcome.Accepted) {
            earned = _payFromReserve(r, trainer, (share * score) / 255);
            m.reputation = _repUp(m.reputation, REP_ACCEPTED_UP);
        } else if (outcome == TrainerOutcome.Rejected) {
            slashedAmount = _slash(m);
            m.reputation = _repDown(m.reputation, REP_REJECTED_DOWN);
        }
        _syncDrawWeight(trainer, m);
        _returnToPool(r, share - (outcome == TrainerOutcome.Accepted ? (share * score) / 255 : 0));
        _settleValidatorBudget(round, r, v, m.revealOrder, own, outcome);
        emit TrainerSettled(round, trainer, outcome, uint8(score), m.reputation, earned, slashedAmount);
    }

    /// @dev Combined score of update `i`: seat-weighted median over the voters other than its trainer.
    function _judge(
        uint256 round,
        Round storage r,
        Voters memory v,
        uint256 i,
        uint256 own
    ) private view returns (TrainerOutcome, uint256) {
        uint256 n = v.positions.length;
        uint8[] memory scores = new uint8[](n);
        uint256[] memory weights = new uint256[](n);
        uint256 cast = 0;
        uint256 j = 0;
        uint256 ownSeats = 0;
        for (uint256 q = 0; q < n; q++) {
            if (v.positions[q] == own) {
                ownSeats = v.seats[q];
                continue;
            }
            scores[j] = _scoreAt(round, v.positions[q], i);
            weights[j] = v.seats[q];
            cast += v.seats[q];
            j++;
        }
        if (own != 0 && ownSeats == 0) ownSeats = _seats[round][own].seats; // on the committee, silent
        // Quorum: more than half of the seats not held by the trainer must have revealed scores.
        if (cast == 0 || cast * 2 <= uint256(r.totalSeats) - ownSeats) return (TrainerOutcome.Unvalidated, 0);
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(scores, j)
            mstore(weights, j)
        }
        (uint256 lo, uint256 hi) = WeightedMedian.bounds(scores, weights, cast);
        if (lo >= ACCEPT_SCORE) return (TrainerOutcome.Accepted, lo);
        if (hi < REJECT_SCORE) return (TrainerOutcome.Rejected, hi);
        if (lo >= REJECT_SCORE && hi < ACCEPT_SCORE) return (TrainerOutcome.Neutral, lo);
        return (TrainerOutcome.Unvalidated, lo); // an exact tie across a threshold
    }

    /// @dev The validators' budget of update `i`: seats that agreed with a decision keep their part for
    ///      `settleValidator`; the rest (and everything after the cut-off) goes back to the pool.
    function _settleValidatorBudget(
        uint256 round,
        Round storage r,
        Voters memory v,
        uint256 i,
        uint256 own,
        TrainerOutcome outcome
    ) private {
        uint256 budget = _validatorBudget(r);
        bool decided = outcome == TrainerOutcome.Accepted || outcome == TrainerOutcome.Rejected;
        if (!decided || _cutoffPassed(r)) {
            _returnToPool(r, budget);
            return;
        }
        r.decidedCount += 1;
        if (own != 0) _seats[round][own].flags |= SEAT_OWN_DECIDED;
        uint256 agreeSeats = 0;
        for (uint256 q = 0; q < v.positions.length; q++) {
            uint256 p = v.positions[q];
            if (p == own) continue;
            uint8 s = _scoreAt(round, p, i);
            bool agrees = outcome == TrainerOutcome.Accepted ? s >= ACCEPT_SCORE : s < REJECT_SCORE;
            if (!agrees) continue;
            agreeSeats += v.seats[q];
            _agreements[round][(p - 1) / 16] += uint256(1) << (16 * ((p - 1) % 16));
        }
        _returnToPool(r, budget - (budget * agreeSeats) / r.totalSeats);
    }

    function _trainerShare(Round storage r, Member storage m) private view returns (uint256 share) {
        uint256 pot = (uint256(r.reward) * (BPS - VALIDATOR_SHARE_BPS)) / BPS;
        if (r.weightSum == 0) return 0;
        share = (pot * uint256(m.samples) * m.revealReputation) / r.weightSum;
        uint256 cap = (pot * maxShareBps) / BPS;
        if (share > cap) share = cap;
    }

    function _validatorBudget(Round storage r) private view returns (uint256) {
        if (r.revealCount == 0) return 0;
        return (uint256(r.reward) * VALIDATOR_SHARE_BPS) / BPS / r.revealCount;
    }

    function _cutoffPassed(Round storage r) private view returns (bool) {
        return block.timestamp > uint256(r.attestDeadline) + attestPeriod;
    }
}
