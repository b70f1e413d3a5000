// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {StakeTree} from "../lib/StakeTree.sol";

/// @title FederationState
/// @notice Parameters, storage layout, events, errors and the phase clock shared by every part of the
///         federation (membership, rounds, committee, settlement, model registry). Holds no entry points.
/// @dev Money invariant: balance == totalStaked + totalWithdrawable + pool + reserved + burned + excess,
///      where `excess` is ETH forced in without a call (selfdestruct), moved to the pool by `sweepExcess`.
abstract contract FederationState {
    // ------------------------------------------------------------------ constants
    /// @notice Reputation of a member seen for the first time.
    uint16 public constant INITIAL_REPUTATION = 100;
    /// @notice Upper bound of reputation.
    uint16 public constant MAX_REPUTATION = 1000;
    /// @notice Members below this reputation hold no weight in the committee draw.
    uint16 public constant MIN_VALIDATOR_REPUTATION = 50;
    uint16 internal constant REP_ACCEPTED_UP = 10;
    uint16 internal constant REP_REJECTED_DOWN = 20;
    uint16 internal constant REP_SILENT_COMMITTER_DOWN = 30;
    uint16 internal constant REP_VALIDATOR_AGREE_UP = 5;
    uint16 internal constant REP_VALIDATOR_MINORITY_DOWN = 10;
    uint16 internal constant REP_SILENT_VALIDATOR_DOWN = 20;
    /// @notice Share of a round's reward for validators (paid per agreeing decision); trainers get the rest.
    uint256 public constant VALIDATOR_SHARE_BPS = 2000;
    /// @notice A combined score at or above this accepts an update (scores are 0..255).
    uint8 public constant ACCEPT_SCORE = 128;
    /// @notice A combined score below this rejects an update; between the two it is neutral.
    uint8 public constant REJECT_SCORE = 64;
    /// @notice Largest committee (seats; one member may hold several).
    uint256 public constant MAX_COMMITTEE = 64;
    /// @notice Largest number of updates a round accepts.
    uint256 public constant MAX_COHORT = 10_000;
    /// @notice Longest allowed phase (every deadline sum stays far from uint64 overflow).
    uint64 public constant MAX_PERIOD = 30 days;
    /// @notice Shortest allowed phase: arming and running the draw need blocks inside one vote period.
    uint64 public constant MIN_PERIOD = 60;
    /// @notice After this long past a round's last deadline, anyone may release the round's unpaid reserve.
    uint64 public constant RESERVE_EXPIRY = 30 days;
    /// @notice A member may leave without settling once the current round is this long past its start and
    ///         still not done (belt and braces: every phase has a deadline, so this should never happen).
    uint64 public constant EMERGENCY_DELAY = 200 days;
    uint256 internal constant BPS = 10_000;

    // Round.stage values; the phase a reader sees is derived from the stage, counters and the clock.
    uint8 internal constant STAGE_NONE = 0;
    uint8 internal constant STAGE_COMMIT = 1; // commit, reveal and select
    uint8 internal constant STAGE_VOTING = 2; // committee drawn: vote commit, vote reveal, aggregate
    uint8 internal constant STAGE_DONE = 3; // global model fixed and stored

    // Member.flags bits
    uint8 internal constant FLAG_REGISTERED = 1;
    uint8 internal constant FLAG_KNOWN = 2; // registered once: reputation is kept across leave
    uint8 internal constant FLAG_REVEALED = 4; // revealed in commitRound
    uint8 internal constant FLAG_SETTLED = 8; // commitRound settled

    // Seat.flags bits
    uint8 internal constant SEAT_VOTE_COMMITTED = 1;
    uint8 internal constant SEAT_VOTE_REVEALED = 2;
    uint8 internal constant SEAT_SETTLED = 4;
    uint8 internal constant SEAT_OWN_DECIDED = 8; // the member's own update in this round was decided
    uint8 internal constant SEAT_PROPOSED = 16;

    /// @notice What a reader sees of a round.
    enum RoundPhase {
        None, // not started
        Commit, // commitments accepted
        Reveal, // reveals accepted
        Select, // reveals closed: anyone calls `drawCommittee` (twice when reveals closed by deadline)
        VoteCommit, // committee commits hidden scores
        VoteReveal, // committee reveals scores
        Aggregate, // settlement open; committee proposes and attests the global model
        Done // global model fixed (accepted, or carried over at the deadline)
    }

    /// @notice Outcome of a committed update.
    enum TrainerOutcome {
        Accepted,
        Rejected,
        Neutral,
        Unvalidated,
        SilentCommitter
    }

    /// @notice Outcome of a committee member's round.
    enum ValidatorOutcome {
        Agreed,
        Minority,
        Silent
    }

    /// @notice Federation parameters, fixed at deployment.
    struct Params {
        bytes32 modelSpec; // sha2-256 digest of the model spec CIDv0
        bytes32 initialModel; // digest of the round-0 global model CIDv0
        uint32 numRounds;
        uint256 minStake;
        uint64 commitPeriod;
        uint64 revealPeriod;
        uint64 votePeriod; // each of vote commit and vote reveal
        uint64 attestPeriod;
        uint16 committeeSize; // seats drawn per round
        uint32 cohortSize; // most updates per round
        uint256 rewardPerRound;
        uint16 slashFractionBps;
        uint32 maxSamples; // cap on the sample count an update may claim
        uint16 maxShareBps; // cap on one update's share of the trainer reward and of the aggregate
        uint64 rejoinCooldown; // seconds after `leave` before the same address may register again
    }

    struct Member {
        // slot 0
        uint96 stake;
        uint16 reputation;
        uint32 commitRound; // last round committed in
        uint32 samples; // samples committed in commitRound
        uint16 revealOrder; // position among commitRound's reveals (index into score vectors)
        uint8 flags;
        uint16 revealReputation; // reputation when it revealed (its weight in rewards and the aggregate)
        // slot 1
        bytes32 commitment;
        // slot 2
        uint32 treeIndex;
        uint32 eligibleFrom; // first round it may commit in
        uint32 pendingDuties; // committee rounds not yet settled
        uint64 cooldownUntil;
        uint96 drawWeight; // what the stake tree holds for this member (see _syncDrawWeight)
    }

    struct Round {
        // slot 0: what commit and reveal touch
        uint8 stage;
        uint16 expectedCommitters;
        uint16 commitCount;
        uint16 revealCount;
        uint16 settledCount;
        uint16 decidedCount; // accepted + rejected, settled before the validator cut-off
        uint8 committeeLen; // distinct members on the committee
        uint8 totalSeats;
        uint8 voteCommits;
        uint8 voteReveals;
        uint8 validatorsSettled;
        uint8 proposalCount;
        uint64 commitDeadline;
        uint56 weightSum; // sum of samples x reputation over reveals
        // slot 1
        uint64 revealDeadline;
        uint64 voteCommitDeadline;
        uint64 voteRevealDeadline;
        uint64 attestDeadline;
        // slot 2
        uint64 startTime;
        uint64 drawBlock; // the block whose prevrandao seeds the committee (0 until armed)
        uint128 reserveLeft; // reward still reserved for this round
        // slot 3
        bytes32 globalModel;
        // slot 4: read by every commit (lottery, cohortSeed)
        uint32 membersAtStart;
        uint128 reward;
        bool lottery; // more members than cohort seats: commit needs a winning ticket
        bool reserveReleased;
        uint8 revealedSeats; // seats of the members who revealed scores: the base of every attestation
        uint64 cohortSeed; // seeds the cohort tickets (64 bits: unknown before the round, so enough)
        // slot 5
        bytes32 committeeSeed;
    }

    struct Seat {
        address member;
        uint8 seats;
        uint8 flags;
    }

    struct Proposal {
        bytes32 cidDigest;
        uint8 proposer; // committee position
        uint8 yesSeats;
        uint8 noSeats;
        uint8 status; // 0 pending, 1 accepted, 2 refused
        uint64 attested; // committee positions (bit p-1) that attested
    }

    // ------------------------------------------------------------------ immutable parameters
    // The parameter names are the federation's public ABI (`minStake()`, ...), so they keep mixedCase.
    // solhint-disable immutable-vars-naming
    /// @notice Who deployed and sponsors the federation.
    address public immutable sponsor;
    /// @notice Digest of the model spec CID.
    bytes32 public immutable modelSpec;
    /// @notice Number of rounds the federation runs.
    uint32 public immutable numRounds;
    /// @notice Minimum stake to register and to commit (wei).
    uint256 public immutable minStake;
    /// @notice Commit window (seconds from `startRound`).
    uint64 public immutable commitPeriod;
    /// @notice Reveal window (seconds from the commit deadline).
    uint64 public immutable revealPeriod;
    /// @notice Vote-commit and vote-reveal windows (seconds each, from the draw).
    uint64 public immutable votePeriod;
    /// @notice Aggregate/attest window (seconds from the vote-reveal deadline).
    uint64 public immutable attestPeriod;
    /// @notice Committee seats drawn per round.
    uint16 public immutable committeeSize;
    /// @notice Most updates per round.
    uint32 public immutable cohortSize;
    /// @notice Reward reserved from the pool when a round starts (wei).
    uint256 public immutable rewardPerRound;
    /// @notice Share of stake slashed per offence (bps); slashed stake is burned.
    uint16 public immutable slashFractionBps;
    /// @notice Most samples one update may claim.
    uint32 public immutable maxSamples;
    /// @notice Most one update may take of the trainer reward and of the aggregate weight (bps).
    uint16 public immutable maxShareBps;
    /// @notice Seconds after `leave` before the same address may register again.
    uint64 public immutable rejoinCooldown;
    // solhint-enable immutable-vars-naming

    // ------------------------------------------------------------------ state
    /// @notice Last round started (0 before the first).
    uint32 public currentRound;
    /// @notice Registered members now.
    uint32 public memberCount;
    /// @notice Free reward pool (wei).
    uint256 public pool;
    /// @notice Rewards reserved for rounds not fully paid out (wei).
    uint256 public reserved;
    /// @notice Sum of members' stakes (wei).
    uint256 public totalStaked;
    /// @notice Sum of what accounts may withdraw (wei).
    uint256 public totalWithdrawable;
    /// @notice Slashed stake, locked in the contract for good (wei): nobody profits from a slash.
    uint256 public burned;
    uint256 internal _lock = 1;

    StakeTree.Tree internal _tree;
    uint32[] internal _freeIndices;
    mapping(uint256 index => address member) internal _indexOwner;
    mapping(address account => Member) internal _members;
    mapping(address account => uint256) internal _balances;
    mapping(uint256 round => Round) internal _rounds;
    /// @dev weight << 48 | (round + 1) << 16 | (reveal order + 1); reveal order + 1 == 0 marks a global model.
    mapping(bytes32 cidDigest => uint256 firstSeen) internal _cidSeen;
    mapping(uint256 round => mapping(uint256 word => uint256 bits)) internal _duplicates; // by reveal order
    mapping(uint256 round => mapping(uint256 position => Seat)) internal _seats; // position from 1
    mapping(uint256 round => mapping(address member => uint256 position)) internal _positionOf;
    mapping(uint256 round => mapping(uint256 position => bytes32)) internal _voteCommitments;
    mapping(uint256 round => mapping(uint256 position => mapping(uint256 word => uint256))) internal _scores;
    mapping(uint256 round => mapping(uint256 word => uint256)) internal _agreements; // 16 bits a position
    mapping(uint256 round => mapping(uint256 id => Proposal)) internal _proposals;

    // ------------------------------------------------------------------ events
    /// @notice The federation was created with these parameters.
    event FederationCreated(address indexed sponsor, bytes32 indexed modelSpec, bytes32 initialModel, Params params);
    /// @notice ETH was added to the reward pool.
    event PoolFunded(address indexed from, uint256 amount, uint256 poolAfter);
    /// @notice A member registered (again: reputation kept).
    event ClientRegistered(address indexed client, uint256 stake, uint16 reputation, uint32 eligibleFrom);
    /// @notice A member's stake or its weight in the committee draw changed.
    event StakeChanged(address indexed client, uint256 stakeAfter, uint256 drawWeight);
    /// @notice A member left; its stake moved to its withdrawable balance.
    event ClientLeft(address indexed client, uint256 stakeReleased, bool emergency);
    /// @notice An account withdrew its balance.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice A round opened.
    event RoundStarted(
        uint256 indexed round,
        bytes32 startModel,
        uint64 commitDeadline,
        uint64 revealDeadline,
        uint16 expectedCommitters,
        uint256 reward,
        bool lottery
    );
    /// @notice A member committed to an update.
    event UpdateCommitted(uint256 indexed round, address indexed client, bytes32 commitment);
    /// @notice A member revealed its update; `revealOrder` is its index in every score vector.
    event UpdateRevealed(
        uint256 indexed round,
        address indexed client,
        uint16 revealOrder,
        bytes32 cidDigest,
        uint32 samples,
        uint16 reputation
    );
    /// @notice The committee draw was armed: it must run in block `drawBlock`, seeded by its prevrandao.
    event DrawArmed(uint256 indexed round, uint64 drawBlock);
    /// @notice The committee was drawn (positions from 1; `seats[i]` seats for `committee[i]`).
    event CommitteeSelected(
        uint256 indexed round,
        address[] committee,
        uint8[] seats,
        bytes32 seed,
        uint64 voteCommitDeadline,
        uint64 voteRevealDeadline,
        uint64 attestDeadline
    );
    /// @notice A committee member committed its hidden scores.
    event VoteCommitted(uint256 indexed round, address indexed validator, bytes32 commitment);
    /// @notice A committee member revealed its scores (one byte per revealed update, in reveal order).
    event VoteRevealed(uint256 indexed round, address indexed validator, bytes scores);
    /// @notice An update was settled.
    event TrainerSettled(
        uint256 indexed round,
        address indexed client,
        TrainerOutcome outcome,
        uint8 score,
        uint16 reputation,
        uint256 reward,
        uint256 slashed
    );
    /// @notice A committee member's round was settled.
    event ValidatorSettled(
        uint256 indexed round,
        address indexed validator,
        ValidatorOutcome outcome,
        uint16 agreed,
        uint16 decisions,
        uint16 reputation,
        uint256 reward,
        uint256 slashed
    );
    /// @notice What was left of a round's reserve went back to the pool.
    event ReserveReleased(uint256 indexed round, uint256 amount);
    /// @notice A committee member proposed an aggregate as the round's global model.
    event GlobalModelPosted(uint256 indexed round, uint32 indexed proposalId, address poster, bytes32 cidDigest);
    /// @notice A committee member attested a proposal with all its seats.
    event GlobalModelAttested(uint256 indexed round, uint32 indexed proposalId, address validator, bool approve);
    /// @notice A proposal is the round's global model.
    event GlobalModelAccepted(uint256 indexed round, uint32 indexed proposalId, bytes32 cidDigest);
    /// @notice A majority of seats refused a proposal.
    event GlobalModelRefused(uint256 indexed round, uint32 indexed proposalId);
    /// @notice No proposal won: the round keeps the previous global model.
    event GlobalModelCarriedOver(uint256 indexed round, bytes32 cidDigest);
    /// @notice The sponsor took the leftover pool after the last round.
    event PoolSwept(address indexed sponsor, uint256 amount);
    /// @notice ETH forced into the contract without a call was added to the pool.
    event ExcessSwept(uint256 amount);

    // ------------------------------------------------------------------ errors
    /// @notice A deployment parameter is out of range; `name` says which.
    error InvalidParameter(string name);
    /// @notice Zero ETH sent where an amount is needed.
    error ZeroAmount();
    /// @notice The stake is below the minimum.
    error StakeTooLow(uint256 stake, uint256 minimum);
    /// @notice The stake does not fit the stake field.
    error StakeTooLarge(uint256 stake);
    /// @notice The caller is already registered.
    error AlreadyRegistered(address client);
    /// @notice The caller is not registered.
    error NotRegistered(address client);
    /// @notice Every member slot is taken.
    error FederationFull(uint256 capacity);
    /// @notice The address left recently; it may register again at `until`.
    error RejoinCooldown(address client, uint256 until);
    /// @notice The member has an unsettled update or committee duty; settle it first.
    error EngagedInRound(address client, uint256 round);
    /// @notice Stakes are frozen between arming and running the committee draw; retry in a block or two.
    error DrawPending(uint256 round);
    /// @notice Taking this much stake out would leave less than the minimum; use `leave` instead.
    error StakeBelowMinimum(uint256 remaining, uint256 minimum);
    /// @notice Nothing to withdraw.
    error NothingToWithdraw(address account);
    /// @notice An ETH transfer failed.
    error TransferFailed(address to, uint256 amount);
    /// @notice Reentrant call.
    error Reentrancy();
    /// @notice The previous round is not done yet.
    error PreviousRoundOpen(uint256 round);
    /// @notice All rounds have been run.
    error AllRoundsDone(uint256 numRounds);
    /// @notice No registered members.
    error NoParticipants();
    /// @notice The pool cannot cover the round's reward; call `fund`.
    error PoolUnderfunded(uint256 pool, uint256 needed);
    /// @notice The round is not in the phase this call needs.
    error WrongPhase(uint256 round, RoundPhase current, RoundPhase expected);
    /// @notice The member joined after this round started; it may commit from `eligibleFrom`.
    error NotEligible(address client, uint256 round, uint256 eligibleFrom);
    /// @notice The member's ticket did not win a cohort seat this round.
    error NotInCohort(address client, uint256 round);
    /// @notice The member's update of `round` is not settled; call `settle` first.
    error UnsettledRound(address client, uint256 round);
    /// @notice The member already committed in this round.
    error AlreadyCommitted(address client, uint256 round);
    /// @notice The member did not commit in this round.
    error NotCommitted(address client, uint256 round);
    /// @notice The member already revealed in this round.
    error AlreadyRevealed(address client, uint256 round);
    /// @notice The reveal does not hash to the commitment.
    error RevealMismatch(address client, uint256 round);
    /// @notice The sample count is 0 or above `maxSamples`.
    error SamplesOutOfRange(uint256 samples, uint256 maxSamples);
    /// @notice The CID is a global model or was revealed in an earlier round (`round`).
    error DuplicateUpdate(bytes32 cidDigest, uint256 round);
    /// @notice A zero commitment or CID digest.
    error EmptyValue();
    /// @notice The caller is not on this round's committee.
    error NotCommitteeMember(address account, uint256 round);
    /// @notice The committee member already did this.
    error AlreadyVoted(address validator, uint256 round);
    /// @notice The committee member did not commit a vote.
    error VoteNotCommitted(address validator, uint256 round);
    /// @notice Only committee members who revealed scores propose and attest global models.
    error NotAVoter(address validator, uint256 round);
    /// @notice The revealed scores do not hash to the vote commitment.
    error VoteMismatch(address validator, uint256 round);
    /// @notice The score vector must hold one byte per revealed update.
    error InvalidScores(uint256 expectedLength, uint256 length);
    /// @notice Already settled.
    error AlreadySettled(address account, uint256 round);
    /// @notice Validators are settled once every update is settled or the settlement cut-off passed.
    error SettlementOpen(uint256 round, uint256 unsettled);
    /// @notice The reserve cannot be released yet (or was released).
    error ReserveLocked(uint256 round);
    /// @notice No such proposal.
    error UnknownProposal(uint256 round, uint256 proposalId);
    /// @notice The committee member already proposed in this round.
    error AlreadyProposed(address validator, uint256 round);
    /// @notice The proposal is already decided.
    error ProposalDecided(uint256 round, uint256 proposalId);
    /// @notice The committee member already attested this proposal.
    error AlreadyAttested(address validator, uint256 round, uint256 proposalId);
    /// @notice Only the sponsor may do this.
    error NotSponsor(address caller);
    /// @notice The federation has rounds left to run.
    error FederationNotOver();
    /// @notice The current round is not stuck; use `leave`.
    error NotStuck(uint256 round, uint256 stuckAfter);

    modifier nonReentrant() {
        if (_lock != 1) revert Reentrancy();
        _lock = 2;
        _;
        _lock = 1;
    }

    constructor(Params memory p) {
        if (p.modelSpec == bytes32(0)) revert InvalidParameter("modelSpec");
        if (p.initialModel == bytes32(0)) revert InvalidParameter("initialModel");
        if (p.numRounds == 0) revert InvalidParameter("numRounds");
        if (p.minStake == 0 || p.minStake > type(uint96).max) revert InvalidParameter("minStake");
        if (!_periodOk(p.commitPeriod) || !_periodOk(p.revealPeriod)) revert InvalidParameter("period");
        if (!_periodOk(p.votePeriod) || !_periodOk(p.attestPeriod)) revert InvalidParameter("period");
        if (p.committeeSize == 0 || p.committeeSize > MAX_COMMITTEE) revert InvalidParameter("committeeSize");
        if (p.cohortSize == 0 || p.cohortSize > MAX_COHORT) revert InvalidParameter("cohortSize");
        if (p.rewardPerRound > type(uint128).max) revert InvalidParameter("rewardPerRound");
        if (p.slashFractionBps > BPS) revert InvalidParameter("slashFractionBps");
        if (p.maxSamples == 0) revert InvalidParameter("maxSamples");
        if (p.maxShareBps == 0 || p.maxShareBps > BPS) revert InvalidParameter("maxShareBps");
        if (p.rejoinCooldown > 365 days) revert InvalidParameter("rejoinCooldown");
        sponsor = msg.sender;
        modelSpec = p.modelSpec;
        numRounds = p.numRounds;
        minStake = p.minStake;
        commitPeriod = p.commitPeriod;
        revealPeriod = p.revealPeriod;
        votePeriod = p.votePeriod;
        attestPeriod = p.attestPeriod;
        committeeSize = p.committeeSize;
        cohortSize = p.cohortSize;
        rewardPerRound = p.rewardPerRound;
        slashFractionBps = p.slashFractionBps;
        maxSamples = p.maxSamples;
        maxShareBps = p.maxShareBps;
        rejoinCooldown = p.rejoinCooldown;
        Round storage genesis = _rounds[0];
        genesis.stage = STAGE_DONE;
        genesis.globalModel = p.initialModel;
        _cidSeen[p.initialModel] = 1 << 16; // round 0, not an update: never revealable
        emit FederationCreated(msg.sender, p.modelSpec, p.initialModel, p);
    }

    // ------------------------------------------------------------------ the phase clock
    function _periodOk(uint64 period) private pure returns (bool) {
        return period >= MIN_PERIOD && period <= MAX_PERIOD;
    }

    function _commitOpen(Round storage r) internal view returns (bool) {
        return block.timestamp <= r.commitDeadline && r.commitCount < r.expectedCommitters;
    }

    function _revealOpen(Round storage r) internal view returns (bool) {
        return !_commitOpen(r) && block.timestamp <= r.revealDeadline && r.revealCount < r.commitCount;
    }

    /// @dev Select ends unused (no committee, every update unvalidated) when nothing was revealed, or when
    ///      nobody drew the committee within one vote period after the reveal deadline.
    function _selectExpired(Round storage r) internal view returns (bool) {
        return r.revealCount == 0 || (block.timestamp > uint256(r.revealDeadline) + votePeriod);
    }

    function _voteCommitOpen(Round storage r) internal view returns (bool) {
        return block.timestamp <= r.voteCommitDeadline && r.voteCommits < r.committeeLen;
    }

    function _voteRevealOpen(Round storage r) internal view returns (bool) {
        return !_voteCommitOpen(r) && block.timestamp <= r.voteRevealDeadline && r.voteReveals < r.voteCommits;
    }

    function _phase(uint256 round) internal view returns (RoundPhase) {
        Round storage r = _rounds[round];
        uint8 stage = r.stage;
        if (stage == STAGE_NONE) return RoundPhase.None;
        if (stage == STAGE_DONE) return RoundPhase.Done;
        if (stage == STAGE_COMMIT) {
            if (_commitOpen(r)) return RoundPhase.Commit;
            if (_revealOpen(r)) return RoundPhase.Reveal;
            return _selectExpired(r) ? RoundPhase.Done : RoundPhase.Select;
        }
        if (_voteCommitOpen(r)) return RoundPhase.VoteCommit;
        if (_voteRevealOpen(r)) return RoundPhase.VoteReveal;
        if (r.voteReveals == 0 || block.timestamp > r.attestDeadline) return RoundPhase.Done;
        return RoundPhase.Aggregate;
    }

    /// @dev Votes are final: settlement may run (Aggregate, or Done after a draw or a Select timeout).
    function _votesClosed(uint256 round) internal view returns (bool) {
        RoundPhase ph = _phase(round);
        return ph == RoundPhase.Aggregate || ph == RoundPhase.Done;
    }

    /// @dev Between arming and running the draw, any change of draw weight could steer a draw whose seed
    ///      is public (prevrandao of the armed block is known once the block before it is out).
    function _requireNoDrawPending() internal view {
        uint256 cur = currentRound;
        Round storage r = _rounds[cur];
        if (r.stage == STAGE_COMMIT && r.drawBlock != 0 && _phase(cur) == RoundPhase.Select) {
            revert DrawPending(cur);
        }
    }

    // ------------------------------------------------------------------ stake and money helpers
    /// @dev Every stake change goes through here: the total, then the member's draw weight.
    function _setStake(address account, Member storage m, uint256 newStake) internal {
        totalStaked = totalStaked + newStake - m.stake;
        m.stake = uint96(newStake);
        if (!_syncDrawWeight(account, m)) emit StakeChanged(account, newStake, m.drawWeight);
    }

    /// @dev The stake tree holds only weight that can be drawn, so every seat of a committee is filled and
    ///      no weight can be parked in the tree to void draws: a member's weight is its stake while it is
    ///      registered with reputation at least MIN_VALIDATOR_REPUTATION, else 0. A decrease applies at once
    ///      (never while a draw is armed); an increase (joining, topping up, reputation back above the floor)
    ///      waits until the current round's committee is drawn, so weight that arrives during a round is never
    ///      drawable in it. The member's next stake or reputation change, or anyone's `activateStake`,
    ///      applies a waiting increase.
    function _syncDrawWeight(address account, Member storage m) internal returns (bool changed) {
        bool drawable = m.flags & FLAG_REGISTERED != 0 && m.reputation >= MIN_VALIDATOR_REPUTATION;
        uint256 target = drawable ? m.stake : 0;
        uint256 current = m.drawWeight;
        if (target == current) return false;
        if (target < current) {
            _requireNoDrawPending();
            StakeTree.sub(_tree, m.treeIndex, current - target);
        } else {
            if (_drawAhead()) return false; // applied after this round's draw
            StakeTree.add(_tree, m.treeIndex, target - current);
        }
        m.drawWeight = uint96(target);
        emit StakeChanged(account, m.stake, target);
        return true;
    }

    /// @dev The current round still has a committee draw ahead of it.
    function _drawAhead() internal view returns (bool) {
        uint256 cur = currentRound;
        return cur != 0 && _rounds[cur].stage == STAGE_COMMIT && _phase(cur) != RoundPhase.Done;
    }

    /// @dev Burn a share of the stake; the caller moves reputation, then syncs the draw weight once.
    function _slash(Member storage m) internal returns (uint256 amount) {
        amount = (uint256(m.stake) * slashFractionBps) / BPS;
        if (amount == 0) return 0;
        m.stake -= uint96(amount);
        totalStaked -= amount;
        burned += amount;
    }

    function _credit(address account, uint256 amount) internal {
        _balances[account] += amount;
        totalWithdrawable += amount;
    }

    /// @dev Pay `amount` out of round `r`'s reserve (less if the reserve ran dry or was released).
    function _payFromReserve(Round storage r, address account, uint256 amount) internal returns (uint256) {
        if (r.reserveReleased) return 0;
        if (amount > r.reserveLeft) amount = r.reserveLeft;
        if (amount == 0) return 0;
        r.reserveLeft -= uint128(amount);
        reserved -= amount;
        _credit(account, amount);
        return amount;
    }

    /// @dev Give `amount` of round `r`'s reserve back to the pool (an unearned share).
    function _returnToPool(Round storage r, uint256 amount) internal {
        if (r.reserveReleased) return;
        if (amount > r.reserveLeft) amount = r.reserveLeft;
        if (amount == 0) return;
        r.reserveLeft -= uint128(amount);
        reserved -= amount;
        pool += amount;
    }

    function _repUp(uint16 rep, uint16 by) internal pure returns (uint16) {
        return rep + by > MAX_REPUTATION ? MAX_REPUTATION : rep + by;
    }

    function _repDown(uint16 rep, uint16 by) internal pure returns (uint16) {
        return rep > by ? rep - by : 0;
    }

    function _send(address to, uint256 amount) internal {
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, ) = payable(to).call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }
}
