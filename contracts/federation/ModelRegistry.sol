// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Settlement} from "./Settlement.sol";

/// @title ModelRegistry
/// @notice The attested global model of every round. Only committee members who revealed scores propose
///         (one proposal each) and attest (each proposal once, with all their seats). Acceptance and refusal
///         count over the same base, the seats that revealed scores: a proposal is accepted once its
///         yes-seats are more than half of them, refused once its no-seats are. If nothing is accepted by
///         the attest deadline the round keeps the previous global model. Nothing is accepted unless more
///         than half of all seats revealed scores: without that quorum no update was decided either.
abstract contract ModelRegistry is Settlement {
    /// @notice Propose the aggregate of the round's accepted updates as its global model (committee only).
    /// @param round a round in its Aggregate phase
    /// @param cidDigest digest of the aggregate model's CIDv0
    /// @return proposalId the id committee members attest
    function postGlobalModel(uint256 round, bytes32 cidDigest) external returns (uint32 proposalId) {
        if (cidDigest == bytes32(0)) revert EmptyValue();
        if (_phase(round) != RoundPhase.Aggregate) revert WrongPhase(round, _phase(round), RoundPhase.Aggregate);
        (uint256 pos, Seat storage s) = _seatOf(round, msg.sender);
        if (s.flags & SEAT_VOTE_REVEALED == 0) revert NotAVoter(msg.sender, round);
        if (s.flags & SEAT_PROPOSED != 0) revert AlreadyProposed(msg.sender, round);
        s.flags |= SEAT_PROPOSED;
        Round storage r = _rounds[round];
        proposalId = uint32(r.proposalCount) + 1;
        r.proposalCount = uint8(proposalId);
        Proposal storage prop = _proposals[round][proposalId];
        prop.cidDigest = cidDigest;
        prop.proposer = uint8(pos);
        emit GlobalModelPosted(round, proposalId, msg.sender, cidDigest);
    }

    /// @notice A committee member's yes/no on a proposal, counted with all its seats.
    /// @param round the round
    /// @param proposalId the proposal attested
    /// @param approve true if the proposal equals the member's own aggregate
    function attestGlobalModel(uint256 round, uint32 proposalId, bool approve) external {
        if (_phase(round) != RoundPhase.Aggregate) revert WrongPhase(round, _phase(round), RoundPhase.Aggregate);
        (uint256 pos, Seat storage s) = _seatOf(round, msg.sender);
        if (s.flags & SEAT_VOTE_REVEALED == 0) revert NotAVoter(msg.sender, round);
        Round storage r = _rounds[round];
        if (proposalId == 0 || proposalId > r.proposalCount) revert UnknownProposal(round, proposalId);
        Proposal storage prop = _proposals[round][proposalId];
        if (prop.status != 0) revert ProposalDecided(round, proposalId);
        uint64 bit = uint64(1) << uint64(pos - 1);
        if (prop.attested & bit != 0) revert AlreadyAttested(msg.sender, round, proposalId);
        prop.attested |= bit;
        emit GlobalModelAttested(round, proposalId, msg.sender, approve);
        uint256 base = r.revealedSeats;
        if (approve) {
            prop.yesSeats += s.seats;
            if (uint256(prop.yesSeats) * 2 > base && base * 2 > r.totalSeats) {
                prop.status = 1;
                r.stage = STAGE_DONE;
                r.globalModel = prop.cidDigest;
                _markGlobalModel(round, prop.cidDigest);
                emit GlobalModelAccepted(round, proposalId, prop.cidDigest);
            }
        } else {
            prop.noSeats += s.seats;
            if (uint256(prop.noSeats) * 2 > base) {
                prop.status = 2;
                emit GlobalModelRefused(round, proposalId);
            }
        }
    }

    /// @notice Store a done round's global model (anyone; `startRound` does it for the previous round).
    /// @param round a round in phase Done
    function closeRound(uint256 round) external {
        if (_phase(round) != RoundPhase.Done) revert WrongPhase(round, _phase(round), RoundPhase.Done);
        _closeRound(round);
    }

    function _closeRound(uint256 round) internal override {
        Round storage r = _rounds[round];
        if (r.stage == STAGE_DONE) return;
        bytes32 model = _resolve(round);
        r.stage = STAGE_DONE;
        r.globalModel = model;
        emit GlobalModelCarriedOver(round, model);
        if (r.commitCount == 0 && !r.reserveReleased) _releaseReserve(round, r);
    }

    /// @dev The global model a done round ends with: the accepted proposal, else the previous round's.
    function _resolve(uint256 round) internal view returns (bytes32) {
        Round storage r = _rounds[round];
        return r.stage == STAGE_DONE ? r.globalModel : _rounds[round - 1].globalModel;
    }

    /// @dev A global model can never come back as an update.
    function _markGlobalModel(uint256 round, bytes32 cidDigest) private {
        if (_cidSeen[cidDigest] == 0) _cidSeen[cidDigest] = (round + 1) << 16;
    }
}
