// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {FederationState} from "./federation/FederationState.sol";
import {ModelRegistry} from "./federation/ModelRegistry.sol";

/// @title QFLFederation
/// @notice One federated-learning federation: open membership with stake, commit-reveal rounds over a
///         sampled cohort, a committee drawn in proportion to stake that scores every update in secret,
///         per-update settlement (rewards, reputation, burned slashes) and the attested global model.
/// @dev The concerns live in `federation/`: FederationState (parameters, storage, phase clock), Membership,
///      Rounds, Committee, Settlement, ModelRegistry. This contract adds funding, sweeps and the views.
///      Rounds are numbered from 1; round 0 is the initial model. Money leaves only by pull
///      (`withdraw`, `withdrawStake`); no loop grows with the membership or the number of updates.
contract QFLFederation is ModelRegistry {
    /// @notice What a reader sees of a round (no per-update arrays: read the events for those).
    struct RoundView {
        RoundPhase phase;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint64 voteCommitDeadline;
        uint64 voteRevealDeadline;
        uint64 attestDeadline;
        uint16 expectedCommitters;
        uint16 commitCount;
        uint16 revealCount;
        uint16 settledCount;
        uint16 decidedCount;
        uint8 voteCommits;
        uint8 voteReveals;
        uint8 validatorsSettled;
        uint8 proposalCount;
        uint8 totalSeats;
        bool lottery;
        uint64 drawBlock;
        uint256 reward;
        uint256 reserveLeft;
        uint256 weightSum;
        uint8 revealedSeats;
        uint64 cohortSeed;
        bytes32 committeeSeed;
        bytes32 startModel;
        bytes32 globalModel;
        address[] committee;
        uint8[] seats;
        uint8[] seatFlags;
    }

    /// @notice A member's state in one call.
    struct ClientView {
        bool registered;
        uint256 stake;
        uint16 reputation;
        uint256 withdrawable;
        uint32 eligibleFrom;
        uint32 commitRound;
        bool revealed;
        bool settled;
        uint32 samples;
        uint16 revealOrder;
        uint32 pendingDuties;
        uint256 drawWeight;
        uint64 cooldownUntil;
    }

    /// @notice Create a federation; the ETH sent funds the pool. Every parameter is range-checked.
    /// @param p the federation parameters (see `Params`)
    constructor(Params memory p) payable FederationState(p) {
        if (msg.value > 0) {
            pool = msg.value;
            emit PoolFunded(msg.sender, msg.value, msg.value);
        }
    }

    /// @notice Add the ETH sent to the reward pool.
    function fund() external payable {
        if (msg.value == 0) revert ZeroAmount();
        pool += msg.value;
        emit PoolFunded(msg.sender, msg.value, pool);
    }

    /// @notice Sponsor only, after the last round is done: move the free pool to the sponsor's balance.
    ///         Slashed stake is burned, never pooled, so the sponsor never profits from a slash.
    function sweepPool() external {
        if (msg.sender != sponsor) revert NotSponsor(msg.sender);
        uint256 cur = currentRound;
        if (cur < numRounds || _phase(cur) != RoundPhase.Done) revert FederationNotOver();
        _closeRound(cur);
        uint256 amount = pool;
        if (amount == 0) revert ZeroAmount();
        pool = 0;
        _credit(msg.sender, amount);
        emit PoolSwept(msg.sender, amount);
    }

    /// @notice Move ETH that arrived without a call (a selfdestruct) into the pool (anyone).
    function sweepExcess() external {
        uint256 accounted = totalStaked + totalWithdrawable + pool + reserved + burned;
        uint256 excess = address(this).balance - accounted;
        if (excess == 0) revert ZeroAmount();
        pool += excess;
        emit ExcessSwept(excess);
    }

    // ------------------------------------------------------------------ views
    /// @notice The phase `round` is in now.
    /// @param round the round number
    /// @return the phase
    function phase(uint256 round) external view returns (RoundPhase) {
        return _phase(round);
    }

    /// @notice Global model CID digest of `round` once it is done (0 before; round 0 is the initial model).
    /// @param round the round number
    /// @return the digest of the global model CIDv0
    function globalModelOf(uint256 round) external view returns (bytes32) {
        if (_phase(round) != RoundPhase.Done) return bytes32(0);
        return _resolve(round);
    }

    /// @notice A round in one call; its cost does not grow with the number of updates.
    /// @param round the round number
    /// @return v phase, deadlines, counters, committee, seed and models
    function getRound(uint256 round) external view returns (RoundView memory v) {
        Round storage r = _rounds[round];
        v.phase = _phase(round);
        v.commitDeadline = r.commitDeadline;
        v.revealDeadline = r.revealDeadline;
        v.voteCommitDeadline = r.voteCommitDeadline;
        v.voteRevealDeadline = r.voteRevealDeadline;
        v.attestDeadline = r.attestDeadline;
        v.expectedCommitters = r.expectedCommitters;
        v.commitCount = r.commitCount;
        v.revealCount = r.revealCount;
        v.settledCount = r.settledCount;
        v.decidedCount = r.decidedCount;
        v.voteCommits = r.voteCommits;
        v.voteReveals = r.voteReveals;
        v.validatorsSettled = r.validatorsSettled;
        v.proposalCount = r.proposalCount;
        v.totalSeats = r.totalSeats;
        v.lottery = r.lottery;
        v.drawBlock = r.drawBlock;
        v.reward = r.reward;
        v.reserveLeft = r.reserveLeft;
        v.weightSum = r.weightSum;
        v.revealedSeats = r.revealedSeats;
        v.cohortSeed = r.cohortSeed;
        v.committeeSeed = r.committeeSeed;
        v.startModel = round == 0 ? r.globalModel : _rounds[round - 1].globalModel;
        if (v.phase == RoundPhase.Done) v.globalModel = _resolve(round);
        uint256 k = r.committeeLen;
        v.committee = new address[](k);
        v.seats = new uint8[](k);
        v.seatFlags = new uint8[](k);
        for (uint256 p = 1; p <= k; p++) {
            Seat storage s = _seats[round][p];
            v.committee[p - 1] = s.member;
            v.seats[p - 1] = s.seats;
            v.seatFlags[p - 1] = s.flags;
        }
    }

    /// @notice A member's state in one call.
    /// @param account the member
    /// @return v stake, reputation, withdrawable balance, its latest update and open duties
    function getClient(address account) external view returns (ClientView memory v) {
        Member storage m = _members[account];
        v.registered = m.flags & FLAG_REGISTERED != 0;
        v.stake = m.stake;
        v.reputation = m.reputation;
        v.withdrawable = _balances[account];
        v.eligibleFrom = m.eligibleFrom;
        v.commitRound = m.commitRound;
        v.revealed = m.flags & FLAG_REVEALED != 0;
        v.settled = m.flags & FLAG_SETTLED != 0;
        v.samples = m.samples;
        v.revealOrder = m.revealOrder;
        v.pendingDuties = m.pendingDuties;
        v.drawWeight = m.drawWeight;
        v.cooldownUntil = m.cooldownUntil;
    }

    /// @notice A proposed global model.
    /// @param round the round
    /// @param proposalId the proposal id (from 1)
    /// @return cidDigest the proposed digest
    /// @return poster who posted it
    /// @return yesSeats seats that approved
    /// @return noSeats seats that refused
    /// @return attested committee positions (bit p-1) that attested
    /// @return status 0 pending, 1 accepted, 2 refused
    function getProposal(
        uint256 round,
        uint32 proposalId
    )
        external
        view
        returns (bytes32 cidDigest, address poster, uint8 yesSeats, uint8 noSeats, uint64 attested, uint8 status)
    {
        Proposal storage p = _proposals[round][proposalId];
        address who = p.proposer == 0 ? address(0) : _seats[round][p.proposer].member;
        return (p.cidDigest, who, p.yesSeats, p.noSeats, p.attested, p.status);
    }

    /// @notice Score committee position `position` (from 1) gave the `index`-th revealed update of `round`.
    /// @param round the round
    /// @param position the committee position
    /// @param index the reveal order of the update
    /// @return the score, 0..255 (0 when not revealed)
    function scoreOf(uint256 round, uint256 position, uint256 index) external view returns (uint8) {
        return _scoreAt(round, position, index);
    }

    /// @notice Committee-draw support: the member at a tree slot, and the tree's total draw weight and size.
    /// @param index a member slot (from 1)
    /// @return member the member there (0 when free)
    /// @return total the sum of all draw weights in the tree
    /// @return size the highest slot ever used
    function stakeSlot(uint256 index) external view returns (address member, uint256 total, uint256 size) {
        return (_indexOwner[index], _tree.total, _tree.size);
    }
}
