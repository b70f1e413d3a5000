// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title QFLFederation
/// @notice Coordinates one federated-learning federation: stakes, commit-reveal rounds, a validator committee
///         that votes with one bitmap per member, reputation, rewards, slashing and the attested global model.
/// @dev Rounds are numbered from 1; round 0 is the initial model. Phases end at timestamp deadlines, or early
///      once everyone expected has acted. Every loop is bounded by `maxParticipants` (registered clients) or
///      `committeeSize` (at most 64). Money leaves only through `withdraw` / `withdrawStake` (pull payments).
contract QFLFederation {
    // ------------------------------------------------------------------ constants
    /// @notice Reputation given to a newly registered client.
    uint32 public constant INITIAL_REPUTATION = 100;
    /// @notice Upper bound of reputation.
    uint32 public constant MAX_REPUTATION = 1000;
    uint32 internal constant REP_ACCEPTED_UP = 10;
    uint32 internal constant REP_REJECTED_DOWN = 20;
    uint32 internal constant REP_SILENT_COMMITTER_DOWN = 30;
    uint32 internal constant REP_VALIDATOR_MAJORITY_UP = 5;
    uint32 internal constant REP_VALIDATOR_MINORITY_DOWN = 10;
    uint32 internal constant REP_SILENT_VALIDATOR_DOWN = 20;
    /// @notice Share of each round's reward that goes to majority validators (basis points); trainers get the rest.
    uint256 public constant VALIDATOR_SHARE_BPS = 2000;
    /// @notice Largest allowed committee (votes are tracked in a 64-bit mask).
    uint256 public constant MAX_COMMITTEE = 64;
    /// @notice Largest allowed `maxParticipants` (bounds every loop and the 4-word vote bitmaps).
    uint256 public constant MAX_PARTICIPANTS_LIMIT = 1024;
    uint256 internal constant BPS = 10_000;

    // Round.stage values (stored); the phase a reader sees is derived from the stage, counts and the clock.
    uint8 internal constant STAGE_NONE = 0;
    uint8 internal constant STAGE_COMMIT = 1; // commit / reveal windows
    uint8 internal constant STAGE_VOTING = 2; // committee selected
    uint8 internal constant STAGE_FINALIZED = 3; // tallied, awaiting the attested global model
    uint8 internal constant STAGE_DONE = 4; // global model fixed

    // Client.flags bits
    uint8 internal constant FLAG_REGISTERED = 1;
    uint8 internal constant FLAG_REVEALED = 2;

    /// @notice What a reader sees of a round.
    enum RoundPhase {
        None, // not started
        Commit, // commitments accepted
        Reveal, // reveals accepted
        Select, // reveal closed: anyone calls `startVote` to draw the committee
        Vote, // committee votes
        Finalize, // voting closed: anyone calls `finalize`
        Aggregate, // global model proposals and attestations
        Done // global model fixed (attested, carried over, or attest deadline passed)
    }

    /// @notice Outcome of a trainer in a finalized round.
    enum TrainerOutcome {
        Accepted,
        Rejected,
        Unvalidated,
        SilentCommitter
    }

    /// @notice Outcome of a committee member in a finalized round.
    enum ValidatorOutcome {
        Majority,
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
        uint64 votePeriod;
        uint64 attestPeriod;
        uint16 committeeSize;
        uint256 rewardPerRound;
        uint16 slashFractionBps;
        uint16 maxParticipants;
    }

    struct Client {
        uint96 stake;
        uint32 reputation;
        uint32 eligibleFrom; // first round this client may commit in
        uint32 commitRound; // last round this client committed in
        uint32 samples; // sample count revealed in `commitRound`
        uint16 revealOrder; // position among the reveals of `commitRound`
        uint8 flags;
    }

    /// @dev `touched` keeps the slot non-zero after a withdrawal, so crediting a reward in `finalize` rewrites
    ///      a live slot (~5k gas) instead of creating one (~22k gas); `register` pays that creation once.
    struct Balance {
        uint128 amount;
        bool touched;
    }

    struct Round {
        // slot 0: everything commit / reveal / vote touch
        uint8 stage;
        uint16 expectedCommitters;
        uint16 commitCount;
        uint16 revealCount;
        uint8 committeeLen;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint64 votedMask;
        // slot 1
        uint64 voteDeadline;
        uint64 attestDeadline;
        uint80 reward;
        uint16 acceptedCount;
        uint32 proposalCount;
        // slot 2: running mix of revealed salts, replaced by the committee seed at `startVote`
        bytes32 seed;
        // slot 3
        bytes32 globalModel;
    }

    struct Proposal {
        bytes32 cidDigest;
        address poster;
        uint64 yesMask;
        uint8 status; // 0 pending, 1 accepted, 2 refused
        uint64 noMask;
    }

    /// @notice One committed update, as returned by `getRound`.
    struct ParticipantView {
        address client;
        bytes32 digest; // commitment before reveal, CID digest after
        bool revealed;
        uint16 revealOrder;
        uint32 samples;
    }

    /// @notice A whole round in one call.
    struct RoundView {
        RoundPhase phase;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint64 voteDeadline;
        uint64 attestDeadline;
        uint16 expectedCommitters;
        uint16 commitCount;
        uint16 revealCount;
        uint16 acceptedCount;
        uint32 proposalCount;
        uint256 reward;
        bytes32 seed;
        bytes32 startModel;
        bytes32 globalModel;
        address[] committee;
        uint64 votedMask;
        uint256[] votes; // committee seat s, word w at index s * words + w
        uint256[] acceptedBitmap;
        ParticipantView[] participants;
    }

    /// @notice A client's state in one call.
    struct ClientView {
        bool registered;
        uint256 stake;
        uint32 reputation;
        uint256 withdrawable;
        uint32 eligibleFrom;
        uint32 commitRound;
        bool revealed;
        uint32 samples;
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
    /// @notice Minimum stake to register (wei).
    uint256 public immutable minStake;
    /// @notice Phase lengths in seconds.
    uint64 public immutable commitPeriod;
    /// @notice Reveal window length in seconds (counted from the commit deadline).
    uint64 public immutable revealPeriod;
    /// @notice Vote window length in seconds (counted from `startVote`).
    uint64 public immutable votePeriod;
    /// @notice Aggregate/attest window length in seconds (counted from `finalize`).
    uint64 public immutable attestPeriod;
    /// @notice Committee seats drawn per round.
    uint16 public immutable committeeSize;
    /// @notice Reward reserved from the pool when a round starts (wei).
    uint256 public immutable rewardPerRound;
    /// @notice Share of stake slashed from rejected trainers, silent committers and silent validators (bps).
    uint16 public immutable slashFractionBps;
    /// @notice Maximum number of registered clients.
    uint16 public immutable maxParticipants;
    // solhint-enable immutable-vars-naming

    // ------------------------------------------------------------------ state
    /// @notice Last round started (0 before the first).
    uint32 public currentRound;
    /// @notice Reward pool (wei): funding plus slashes minus reserved rewards.
    /// @dev Invariant: balance == totalStaked + totalWithdrawable + pool + reserved.
    uint256 public pool;
    /// @notice Rewards reserved from the pool for the open round, paid or returned at `finalize` (wei).
    uint256 public reserved;
    /// @notice Sum of the stakes of registered clients (wei).
    uint256 public totalStaked;
    /// @notice Sum of what accounts may withdraw (wei).
    uint256 public totalWithdrawable;
    uint256 private _lock = 1;

    address[] internal _members;
    mapping(address client => uint256 indexPlusOne) internal _memberIndex;
    mapping(address client => Client) internal _clients;
    mapping(address account => Balance) internal _balances;
    mapping(uint256 round => Round) internal _rounds;
    mapping(uint256 round => mapping(address client => bytes32 digest)) internal _digests;
    mapping(uint256 round => address[] committee) internal _committees;
    mapping(uint256 round => mapping(address member => uint256 seatPlusOne)) internal _seats;
    mapping(uint256 round => mapping(uint256 key => uint256 word)) internal _votes;
    mapping(uint256 round => uint256[] bitmap) internal _accepted;
    mapping(uint256 round => mapping(uint256 id => Proposal)) internal _proposals;

    // ------------------------------------------------------------------ events
    /// @notice The federation was created with these parameters.
    event FederationCreated(address indexed sponsor, bytes32 indexed modelSpec, bytes32 initialModel, Params params);
    /// @notice ETH was added to the reward pool.
    event PoolFunded(address indexed from, uint256 amount, uint256 poolAfter);
    /// @notice A client registered.
    event ClientRegistered(address indexed client, uint256 stake, uint32 reputation, uint32 eligibleFrom);
    /// @notice A client left; its stake moved to its withdrawable balance.
    event ClientLeft(address indexed client, uint256 stakeReleased);
    /// @notice A client took part of its stake out.
    event StakeWithdrawn(address indexed client, uint256 amount, uint256 stakeAfter);
    /// @notice An account withdrew its balance (rewards and released stake).
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice A round opened.
    event RoundStarted(
        uint256 indexed round,
        bytes32 startModel,
        uint64 commitDeadline,
        uint64 revealDeadline,
        uint16 expectedCommitters,
        uint256 reward
    );
    /// @notice A client committed to an update.
    event UpdateCommitted(uint256 indexed round, address indexed client, bytes32 commitment);
    /// @notice A client revealed its update; `revealOrder` is its bit in vote bitmaps.
    event UpdateRevealed(
        uint256 indexed round,
        address indexed client,
        uint16 revealOrder,
        bytes32 cidDigest,
        bytes32 salt,
        uint32 samples
    );
    /// @notice The validator committee was drawn and voting opened.
    event CommitteeSelected(uint256 indexed round, address[] committee, bytes32 seed, uint64 voteDeadline);
    /// @notice A committee member voted.
    event VoteCast(uint256 indexed round, address indexed validator, uint256[] bitmap);
    /// @notice A trainer's round was settled.
    event TrainerSettled(
        uint256 indexed round,
        address indexed client,
        TrainerOutcome outcome,
        uint32 reputation,
        uint256 reward,
        uint256 slashed
    );
    /// @notice A committee member's round was settled.
    event ValidatorSettled(
        uint256 indexed round,
        address indexed validator,
        ValidatorOutcome outcome,
        uint32 reputation,
        uint256 reward,
        uint256 slashed
    );
    /// @notice The round was tallied.
    event RoundFinalized(
        uint256 indexed round,
        uint256[] acceptedBitmap,
        uint16 acceptedCount,
        uint256 rewardPaid,
        uint64 attestDeadline
    );
    /// @notice An aggregate model was proposed as the round's global model.
    event GlobalModelPosted(uint256 indexed round, uint32 indexed proposalId, address poster, bytes32 cidDigest);
    /// @notice A committee member attested a proposal.
    event GlobalModelAttested(uint256 indexed round, uint32 indexed proposalId, address validator, bool approve);
    /// @notice A proposal won a committee majority: it is the round's global model.
    event GlobalModelAccepted(uint256 indexed round, uint32 indexed proposalId, bytes32 cidDigest);
    /// @notice A proposal was refused by the committee; it never becomes global.
    event GlobalModelRefused(uint256 indexed round, uint32 indexed proposalId);
    /// @notice No aggregate was accepted: the round keeps the previous global model.
    event GlobalModelCarriedOver(uint256 indexed round, bytes32 cidDigest);
    /// @notice The sponsor took the leftover pool after the last round.
    event PoolSwept(address indexed sponsor, uint256 amount);

    // ------------------------------------------------------------------ errors
    /// @notice A deployment parameter is out of range; `name` says which.
    error InvalidParameter(string name);
    /// @notice Zero ETH sent where an amount is needed.
    error ZeroAmount();
    /// @notice The stake sent is below the minimum.
    error StakeTooLow(uint256 sent, uint256 minimum);
    /// @notice The stake does not fit the stake field.
    error StakeTooLarge(uint256 sent);
    /// @notice The caller is already registered.
    error AlreadyRegistered(address client);
    /// @notice The caller is not registered.
    error NotRegistered(address client);
    /// @notice `maxParticipants` clients are already registered.
    error FederationFull(uint256 maxParticipants);
    /// @notice The client is part of an open round (committed or on the committee); wait until it is done.
    error EngagedInRound(address client, uint256 round);
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
    /// @notice No registered clients.
    error NoParticipants();
    /// @notice The pool cannot cover the round's reward; call `fund`.
    error PoolUnderfunded(uint256 pool, uint256 needed);
    /// @notice The round is not in the phase this call needs.
    error WrongPhase(uint256 round, RoundPhase current, RoundPhase expected);
    /// @notice The client joined after this round started; it may commit from `eligibleFrom`.
    error NotEligible(address client, uint256 round, uint256 eligibleFrom);
    /// @notice The client already committed in this round.
    error AlreadyCommitted(address client, uint256 round);
    /// @notice The client did not commit in this round.
    error NotCommitted(address client, uint256 round);
    /// @notice The client already revealed in this round.
    error AlreadyRevealed(address client, uint256 round);
    /// @notice The reveal does not hash to the commitment.
    error RevealMismatch(address client, uint256 round);
    /// @notice A zero commitment, CID digest or sample count.
    error EmptyValue();
    /// @notice The caller is not on this round's committee.
    error NotCommitteeMember(address account, uint256 round);
    /// @notice The committee member already voted.
    error AlreadyVoted(address validator, uint256 round);
    /// @notice A bitmap has the wrong number of words or bits set past the last update.
    error InvalidBitmap(uint256 expectedWords, uint256 updates);
    /// @notice The posted accepted-set differs from the tally.
    error AcceptedSetMismatch(uint256 round);
    /// @notice No such proposal.
    error UnknownProposal(uint256 round, uint256 proposalId);
    /// @notice The proposal is already decided.
    error ProposalDecided(uint256 round, uint256 proposalId);
    /// @notice The committee member already attested this proposal.
    error AlreadyAttested(address validator, uint256 round, uint256 proposalId);
    /// @notice Only the sponsor may do this.
    error NotSponsor(address caller);
    /// @notice The federation has rounds left to run.
    error FederationNotOver();

    modifier nonReentrant() {
        if (_lock != 1) revert Reentrancy();
        _lock = 2;
        _;
        _lock = 1;
    }

    /// @notice Create a federation; the constructor validates every parameter.
    /// @param p the federation parameters (see `Params`)
    constructor(Params memory p) payable {
        if (p.modelSpec == bytes32(0)) revert InvalidParameter("modelSpec");
        if (p.initialModel == bytes32(0)) revert InvalidParameter("initialModel");
        if (p.numRounds == 0) revert InvalidParameter("numRounds");
        if (p.minStake == 0) revert InvalidParameter("minStake");
        if (p.commitPeriod == 0 || p.revealPeriod == 0 || p.votePeriod == 0 || p.attestPeriod == 0) {
            revert InvalidParameter("period");
        }
        if (p.committeeSize == 0 || p.committeeSize > MAX_COMMITTEE) revert InvalidParameter("committeeSize");
        if (p.rewardPerRound > type(uint80).max) revert InvalidParameter("rewardPerRound");
        if (p.slashFractionBps > BPS) revert InvalidParameter("slashFractionBps");
        if (p.maxParticipants == 0 || p.maxParticipants > MAX_PARTICIPANTS_LIMIT) {
            revert InvalidParameter("maxParticipants");
        }
        sponsor = msg.sender;
        modelSpec = p.modelSpec;
        numRounds = p.numRounds;
        minStake = p.minStake;
        commitPeriod = p.commitPeriod;
        revealPeriod = p.revealPeriod;
        votePeriod = p.votePeriod;
        attestPeriod = p.attestPeriod;
        committeeSize = p.committeeSize;
        rewardPerRound = p.rewardPerRound;
        slashFractionBps = p.slashFractionBps;
        maxParticipants = p.maxParticipants;
        Round storage genesis = _rounds[0];
        genesis.stage = STAGE_DONE;
        genesis.globalModel = p.initialModel;
        emit FederationCreated(msg.sender, p.modelSpec, p.initialModel, p);
        if (msg.value > 0) {
            pool = msg.value;
            emit PoolFunded(msg.sender, msg.value, msg.value);
        }
    }

    // ------------------------------------------------------------------ money in / out
    /// @notice Add the ETH sent to the reward pool.
    function fund() external payable {
        if (msg.value == 0) revert ZeroAmount();
        pool += msg.value;
        emit PoolFunded(msg.sender, msg.value, pool);
    }

    /// @notice Register the caller with the ETH sent as stake; it may commit from the next round on.
    function register() external payable {
        if (msg.value < minStake) revert StakeTooLow(msg.value, minStake);
        if (msg.value > type(uint96).max) revert StakeTooLarge(msg.value);
        Client storage c = _clients[msg.sender];
        if (c.flags & FLAG_REGISTERED != 0) revert AlreadyRegistered(msg.sender);
        if (_members.length >= maxParticipants) revert FederationFull(maxParticipants);
        uint32 eligibleFrom = currentRound + 1;
        _members.push(msg.sender);
        _memberIndex[msg.sender] = _members.length;
        c.stake = uint96(msg.value);
        c.reputation = INITIAL_REPUTATION;
        c.eligibleFrom = eligibleFrom;
        c.flags = FLAG_REGISTERED;
        _balances[msg.sender].touched = true;
        totalStaked += msg.value;
        emit ClientRegistered(msg.sender, msg.value, INITIAL_REPUTATION, eligibleFrom);
    }

    /// @notice Deregister the caller; its stake becomes withdrawable. Not while engaged in an open round.
    function leave() external {
        Client storage c = _requireFreeClient(msg.sender);
        uint256 stake = c.stake;
        Round storage r = _rounds[currentRound];
        // An eligible client that leaves before committing is no longer awaited by the commit phase.
        if (r.stage == STAGE_COMMIT && c.eligibleFrom <= currentRound && r.expectedCommitters > 0) {
            r.expectedCommitters -= 1;
        }
        uint256 idx = _memberIndex[msg.sender];
        address last = _members[_members.length - 1];
        _members[idx - 1] = last;
        _memberIndex[last] = idx;
        _members.pop();
        delete _memberIndex[msg.sender];
        c.stake = 0;
        c.flags = 0;
        totalStaked -= stake;
        _balances[msg.sender].amount += uint128(stake);
        totalWithdrawable += stake;
        emit ClientLeft(msg.sender, stake);
    }

    /// @notice Send `amount` of the caller's stake back; at least `minStake` must remain. Not while engaged.
    /// @param amount wei to take out of the stake
    function withdrawStake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Client storage c = _requireFreeClient(msg.sender);
        uint256 stake = c.stake;
        if (amount > stake || stake - amount < minStake) {
            revert StakeBelowMinimum(amount > stake ? 0 : stake - amount, minStake);
        }
        c.stake = uint96(stake - amount);
        totalStaked -= amount;
        emit StakeWithdrawn(msg.sender, amount, stake - amount);
        _send(msg.sender, amount);
    }

    /// @notice Send the caller everything it is owed (rewards and stake released by `leave`).
    function withdraw() external nonReentrant {
        uint256 amount = _balances[msg.sender].amount;
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        _balances[msg.sender].amount = 0;
        totalWithdrawable -= amount;
        emit Withdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @notice Sponsor only, after the last round is done: move the leftover pool to the sponsor's balance.
    function sweepPool() external {
        if (msg.sender != sponsor) revert NotSponsor(msg.sender);
        if (currentRound < numRounds || !_isDone(currentRound)) revert FederationNotOver();
        uint256 amount = pool;
        if (amount == 0) revert ZeroAmount();
        pool = 0;
        _balances[msg.sender].amount += uint128(amount);
        totalWithdrawable += amount;
        emit PoolSwept(msg.sender, amount);
    }

    // ------------------------------------------------------------------ round life cycle
    /// @notice Open the next round (anyone). Needs the previous round done, a registered client and a funded pool.
    /// @return round the number of the round opened
    function startRound() external returns (uint256 round) {
        uint256 prev = currentRound;
        if (prev >= numRounds) revert AllRoundsDone(numRounds);
        Round storage p = _rounds[prev];
        if (!_isDone(prev)) revert PreviousRoundOpen(prev);
        if (p.stage != STAGE_DONE) {
            // Attest deadline passed with no accepted aggregate: keep the previous global model.
            p.stage = STAGE_DONE;
            p.globalModel = _rounds[prev - 1].globalModel;
            emit GlobalModelCarriedOver(prev, p.globalModel);
        }
        uint256 n = _members.length;
        if (n == 0) revert NoParticipants();
        if (pool < rewardPerRound) revert PoolUnderfunded(pool, rewardPerRound);
        pool -= rewardPerRound;
        reserved += rewardPerRound;
        round = prev + 1;
        currentRound = uint32(round);
        Round storage r = _rounds[round];
        r.stage = STAGE_COMMIT;
        r.expectedCommitters = uint16(n);
        r.commitDeadline = uint64(block.timestamp) + commitPeriod;
        r.revealDeadline = r.commitDeadline + revealPeriod;
        r.reward = uint80(rewardPerRound);
        emit RoundStarted(round, p.globalModel, r.commitDeadline, r.revealDeadline, uint16(n), rewardPerRound);
    }

    /// @notice Commit to an update: `commitment = keccak256(abi.encode(cidDigest, salt, msg.sender, round))`.
    /// @param round the open round
    /// @param commitment the hash binding the caller to its update
    function commitUpdate(uint256 round, bytes32 commitment) external {
        if (commitment == bytes32(0)) revert EmptyValue();
        Round storage r = _rounds[round];
        if (r.stage != STAGE_COMMIT || _commitClosed(r)) revert WrongPhase(round, _phase(round), RoundPhase.Commit);
        Client storage c = _clients[msg.sender];
        if (c.flags & FLAG_REGISTERED == 0) revert NotRegistered(msg.sender);
        if (c.eligibleFrom > round) revert NotEligible(msg.sender, round, c.eligibleFrom);
        if (c.commitRound == round) revert AlreadyCommitted(msg.sender, round);
        c.commitRound = uint32(round);
        c.samples = 0;
        c.revealOrder = 0;
        c.flags = FLAG_REGISTERED;
        r.commitCount += 1;
        _digests[round][msg.sender] = commitment;
        emit UpdateCommitted(round, msg.sender, commitment);
    }

    /// @notice Reveal the committed update; reverts unless it hashes to the commitment.
    /// @param round the round committed in
    /// @param cidDigest sha2-256 digest of the update's CIDv0
    /// @param salt the salt used in the commitment
    /// @param samples number of training samples behind the update (> 0)
    function revealUpdate(uint256 round, bytes32 cidDigest, bytes32 salt, uint32 samples) external {
        if (cidDigest == bytes32(0) || samples == 0) revert EmptyValue();
        Round storage r = _rounds[round];
        if (r.stage != STAGE_COMMIT || !_commitClosed(r) || _revealClosed(r)) {
            revert WrongPhase(round, _phase(round), RoundPhase.Reveal);
        }
        Client storage c = _clients[msg.sender];
        if (c.commitRound != round || c.flags & FLAG_REGISTERED == 0) revert NotCommitted(msg.sender, round);
        if (c.flags & FLAG_REVEALED != 0) revert AlreadyRevealed(msg.sender, round);
        bytes32 expected = keccak256(abi.encode(cidDigest, salt, msg.sender, round));
        if (_digests[round][msg.sender] != expected) revert RevealMismatch(msg.sender, round);
        uint16 order = r.revealCount;
        r.revealCount = order + 1;
        r.seed ^= salt;
        c.samples = samples;
        c.revealOrder = order;
        c.flags = FLAG_REGISTERED | FLAG_REVEALED;
        _digests[round][msg.sender] = cidDigest;
        emit UpdateRevealed(round, msg.sender, order, cidDigest, salt, samples);
    }

    /// @notice Close reveals and draw the committee (anyone), once all committers revealed or the reveal deadline
    ///         passed. Seats are drawn without replacement, weighted by stake x reputation, from
    ///         seed = keccak256(prevrandao, xor of revealed salts, round, this). Salts are fixed by the commitments
    ///         before anyone reveals, so no single revealer can steer the seed beyond withholding its reveal
    ///         (which costs a slash); the block proposer can bias prevrandao by withholding its block.
    /// @param round the round whose reveal phase is over
    function startVote(uint256 round) external {
        Round storage r = _rounds[round];
        if (r.stage != STAGE_COMMIT || !_revealClosed(r)) revert WrongPhase(round, _phase(round), RoundPhase.Select);
        bytes32 seed = keccak256(abi.encode(block.prevrandao, r.seed, round, address(this)));
        address[] memory committee = _drawCommittee(seed);
        address[] storage stored = _committees[round];
        for (uint256 i = 0; i < committee.length; i++) {
            stored.push(committee[i]);
            _seats[round][committee[i]] = i + 1;
        }
        uint64 deadline = uint64(block.timestamp) + votePeriod;
        r.seed = seed;
        r.stage = STAGE_VOTING;
        r.committeeLen = uint8(committee.length);
        r.voteDeadline = deadline;
        emit CommitteeSelected(round, committee, seed, deadline);
    }

    /// @notice Committee member's single vote: bit i of `bitmap` accepts the i-th revealed update (reveal order).
    /// @param round the round being voted on
    /// @param bitmap ceil(revealCount / 256) words; bits past the last update must be zero
    function vote(uint256 round, uint256[] calldata bitmap) external {
        Round storage r = _rounds[round];
        if (r.stage != STAGE_VOTING || _voteClosed(r)) revert WrongPhase(round, _phase(round), RoundPhase.Vote);
        uint256 seat = _seats[round][msg.sender];
        if (seat == 0) revert NotCommitteeMember(msg.sender, round);
        seat -= 1;
        uint64 bit = uint64(1) << seat;
        if (r.votedMask & bit != 0) revert AlreadyVoted(msg.sender, round);
        uint256 n = r.revealCount;
        uint256 words = (n + 255) / 256;
        _checkBitmap(bitmap, n, words);
        r.votedMask |= bit;
        for (uint256 w = 0; w < words; w++) {
            if (bitmap[w] != 0) _votes[round][seat * words + w] = bitmap[w];
        }
        emit VoteCast(round, msg.sender, bitmap);
    }

    /// @notice Tally the votes (anyone), once all members voted or the vote deadline passed: moves reputation,
    ///         accrues rewards, slashes rejected trainers, silent committers and silent validators.
    /// @param round the round to finalize
    function finalize(uint256 round) external {
        Round storage r = _rounds[round];
        if (r.stage != STAGE_VOTING || !_voteClosed(r)) revert WrongPhase(round, _phase(round), RoundPhase.Finalize);
        Tally memory t = _tally(round, r);
        uint256 paid = _settle(round, r, t);
        uint256 reward = r.reward;
        reserved -= reward;
        pool += reward - paid; // what nobody earned goes back to the pool
        r.acceptedCount = uint16(t.acceptedCount);
        uint256[] storage acc = _accepted[round];
        for (uint256 w = 0; w < t.accepted.length; w++) acc.push(t.accepted[w]);
        uint64 deadline = uint64(block.timestamp) + attestPeriod;
        r.attestDeadline = deadline;
        if (t.acceptedCount == 0) {
            r.stage = STAGE_DONE;
            r.globalModel = _rounds[round - 1].globalModel;
            emit RoundFinalized(round, t.accepted, 0, paid, deadline);
            emit GlobalModelCarriedOver(round, r.globalModel);
        } else {
            r.stage = STAGE_FINALIZED;
            emit RoundFinalized(round, t.accepted, uint16(t.acceptedCount), paid, deadline);
        }
    }

    /// @notice Propose the aggregate of the accepted updates as the round's global model (anyone).
    /// @param round a finalized round
    /// @param cidDigest digest of the aggregate model's CIDv0
    /// @param acceptedBitmap the updates it was built from; must equal the tally's accepted set
    /// @return proposalId the id committee members attest
    function postGlobalModel(
        uint256 round,
        bytes32 cidDigest,
        uint256[] calldata acceptedBitmap
    ) external returns (uint32 proposalId) {
        if (cidDigest == bytes32(0)) revert EmptyValue();
        Round storage r = _rounds[round];
        if (_phase(round) != RoundPhase.Aggregate) revert WrongPhase(round, _phase(round), RoundPhase.Aggregate);
        uint256[] storage acc = _accepted[round];
        if (acceptedBitmap.length != acc.length) revert AcceptedSetMismatch(round);
        for (uint256 w = 0; w < acc.length; w++) {
            if (acc[w] != acceptedBitmap[w]) revert AcceptedSetMismatch(round);
        }
        proposalId = r.proposalCount + 1;
        r.proposalCount = proposalId;
        Proposal storage prop = _proposals[round][proposalId];
        prop.cidDigest = cidDigest;
        prop.poster = msg.sender;
        emit GlobalModelPosted(round, proposalId, msg.sender, cidDigest);
    }

    /// @notice Committee member's yes/no on a proposed global model; a majority of seats decides.
    /// @param round the finalized round
    /// @param proposalId the proposal attested
    /// @param approve true if the aggregate is correct
    function attestGlobalModel(uint256 round, uint32 proposalId, bool approve) external {
        Round storage r = _rounds[round];
        if (_phase(round) != RoundPhase.Aggregate) revert WrongPhase(round, _phase(round), RoundPhase.Aggregate);
        uint256 seat = _seats[round][msg.sender];
        if (seat == 0) revert NotCommitteeMember(msg.sender, round);
        if (proposalId == 0 || proposalId > r.proposalCount) revert UnknownProposal(round, proposalId);
        Proposal storage prop = _proposals[round][proposalId];
        if (prop.status != 0) revert ProposalDecided(round, proposalId);
        uint64 bit = uint64(1) << (seat - 1);
        if ((prop.yesMask | prop.noMask) & bit != 0) revert AlreadyAttested(msg.sender, round, proposalId);
        emit GlobalModelAttested(round, proposalId, msg.sender, approve);
        uint256 seats = r.committeeLen;
        if (approve) {
            prop.yesMask |= bit;
            if (_popcount(prop.yesMask) * 2 > seats) {
                prop.status = 1;
                r.stage = STAGE_DONE;
                r.globalModel = prop.cidDigest;
                emit GlobalModelAccepted(round, proposalId, prop.cidDigest);
            }
        } else {
            prop.noMask |= bit;
            if (_popcount(prop.noMask) * 2 >= seats) {
                prop.status = 2;
                emit GlobalModelRefused(round, proposalId);
            }
        }
    }

    // ------------------------------------------------------------------ views
    /// @notice The phase a round is in now.
    /// @param round the round number
    /// @return the phase
    function phase(uint256 round) external view returns (RoundPhase) {
        return _phase(round);
    }

    /// @notice The global model digest of `round` (0 while not fixed; round 0 is the initial model).
    /// @param round the round number
    /// @return the digest of the global model CIDv0
    function globalModelOf(uint256 round) external view returns (bytes32) {
        return _rounds[round].globalModel;
    }

    /// @notice Registered clients, in registry order.
    /// @return the addresses
    function members() external view returns (address[] memory) {
        return _members;
    }

    /// @notice A proposed global model.
    /// @param round the round
    /// @param proposalId the proposal id (from 1)
    /// @return cidDigest the proposed digest
    /// @return poster who posted it
    /// @return yesMask committee seats that approved
    /// @return noMask committee seats that refused
    /// @return status 0 pending, 1 accepted, 2 refused
    function getProposal(
        uint256 round,
        uint32 proposalId
    ) external view returns (bytes32 cidDigest, address poster, uint64 yesMask, uint64 noMask, uint8 status) {
        Proposal storage p = _proposals[round][proposalId];
        return (p.cidDigest, p.poster, p.yesMask, p.noMask, p.status);
    }

    /// @notice A client's state in one call.
    /// @param account the client
    /// @return v stake, reputation, withdrawable balance and its latest commitment
    function getClient(address account) external view returns (ClientView memory v) {
        Client storage c = _clients[account];
        v.registered = c.flags & FLAG_REGISTERED != 0;
        v.stake = c.stake;
        v.reputation = c.reputation;
        v.withdrawable = _balances[account].amount;
        v.eligibleFrom = c.eligibleFrom;
        v.commitRound = c.commitRound;
        v.revealed = c.flags & FLAG_REVEALED != 0;
        v.samples = c.samples;
    }

    /// @notice A round in one call. Participants are complete for the current round; for earlier rounds read
    ///         the `UpdateCommitted` / `UpdateRevealed` events (client records are reused across rounds).
    /// @param round the round number
    /// @return v phase, deadlines, counts, committee, votes, accepted set, models and participants
    function getRound(uint256 round) external view returns (RoundView memory v) {
        Round storage r = _rounds[round];
        v.phase = _phase(round);
        v.commitDeadline = r.commitDeadline;
        v.revealDeadline = r.revealDeadline;
        v.voteDeadline = r.voteDeadline;
        v.attestDeadline = r.attestDeadline;
        v.expectedCommitters = r.expectedCommitters;
        v.commitCount = r.commitCount;
        v.revealCount = r.revealCount;
        v.acceptedCount = r.acceptedCount;
        v.proposalCount = r.proposalCount;
        v.reward = r.reward;
        v.seed = r.seed;
        v.startModel = round == 0 ? r.globalModel : _rounds[round - 1].globalModel;
        v.globalModel = r.globalModel;
        v.committee = _committees[round];
        v.votedMask = r.votedMask;
        v.votes = _votesOf(round, r);
        v.acceptedBitmap = _accepted[round];
        v.participants = _participantsOf(round);
    }

    // ------------------------------------------------------------------ internals: phases
    function _commitClosed(Round storage r) internal view returns (bool) {
        return block.timestamp > r.commitDeadline || r.commitCount >= r.expectedCommitters;
    }

    function _revealClosed(Round storage r) internal view returns (bool) {
        return _commitClosed(r) && (block.timestamp > r.revealDeadline || r.revealCount >= r.commitCount);
    }

    function _voteClosed(Round storage r) internal view returns (bool) {
        uint64 full = r.committeeLen == 64 ? type(uint64).max : (uint64(1) << r.committeeLen) - 1;
        return block.timestamp > r.voteDeadline || r.votedMask == full;
    }

    function _isDone(uint256 round) internal view returns (bool) {
        Round storage r = _rounds[round];
        return r.stage == STAGE_DONE || (r.stage == STAGE_FINALIZED && block.timestamp > r.attestDeadline);
    }

    function _phase(uint256 round) internal view returns (RoundPhase) {
        Round storage r = _rounds[round];
        uint8 stage = r.stage;
        if (stage == STAGE_NONE) return RoundPhase.None;
        if (stage == STAGE_COMMIT) {
            if (!_commitClosed(r)) return RoundPhase.Commit;
            if (!_revealClosed(r)) return RoundPhase.Reveal;
            return RoundPhase.Select;
        }
        if (stage == STAGE_VOTING) return _voteClosed(r) ? RoundPhase.Finalize : RoundPhase.Vote;
        if (_isDone(round)) return RoundPhase.Done;
        return RoundPhase.Aggregate;
    }

    function _requireFreeClient(address account) internal view returns (Client storage c) {
        c = _clients[account];
        if (c.flags & FLAG_REGISTERED == 0) revert NotRegistered(account);
        uint256 cur = currentRound;
        if (cur != 0 && !_isDone(cur) && (c.commitRound == cur || _seats[cur][account] != 0)) {
            revert EngagedInRound(account, cur);
        }
    }

    // ------------------------------------------------------------------ internals: committee
    function _drawCommittee(bytes32 seed) internal view returns (address[] memory chosen) {
        uint256 n = _members.length;
        uint256[] memory weights = new uint256[](n);
        uint256 total = 0;
        for (uint256 i = 0; i < n; i++) {
            Client storage c = _clients[_members[i]];
            uint256 w = uint256(c.stake) * c.reputation;
            weights[i] = w;
            total += w;
        }
        uint256 size = committeeSize < n ? committeeSize : n;
        chosen = new address[](size);
        uint256 count = 0;
        for (uint256 k = 0; k < size && total > 0; k++) {
            uint256 x = uint256(keccak256(abi.encode(seed, k))) % total;
            uint256 acc = 0;
            for (uint256 i = 0; i < n; i++) {
                acc += weights[i];
                if (x < acc) {
                    chosen[count++] = _members[i];
                    total -= weights[i];
                    weights[i] = 0;
                    break;
                }
            }
        }
        if (count < size) {
            // Members with zero weight (reputation 0) are never drawn, so the committee may be smaller.
            address[] memory trimmed = new address[](count);
            for (uint256 i = 0; i < count; i++) trimmed[i] = chosen[i];
            chosen = trimmed;
        }
    }

    function _checkBitmap(uint256[] calldata bitmap, uint256 n, uint256 words) internal pure {
        if (bitmap.length != words) revert InvalidBitmap(words, n);
        if (words > 0 && n % 256 != 0 && bitmap[words - 1] >> (n % 256) != 0) revert InvalidBitmap(words, n);
    }

    // ------------------------------------------------------------------ internals: tally and settlement
    struct Tally {
        uint256[] accepted; // bitmap over reveal order
        uint256 acceptedCount;
        address[] committee;
        uint256[] agree; // per seat: decisions the member agreed with
        uint256[] disagree;
        // per revealed update (reveal order): trainer, outcome, reward weight
        address[] trainer;
        uint8[] outcome;
        uint256 weightSum;
        uint256[] votes; // seat s, word w at s * words + w
        uint256 words;
        uint64 voted;
    }

    function _tally(uint256 round, Round storage r) internal view returns (Tally memory t) {
        uint256 n = r.revealCount;
        t.words = (n + 255) / 256;
        t.committee = _committees[round];
        t.accepted = new uint256[](t.words);
        t.agree = new uint256[](t.committee.length);
        t.disagree = new uint256[](t.committee.length);
        t.trainer = new address[](n);
        t.outcome = new uint8[](n);
        t.votes = _votesOf(round, r);
        t.voted = r.votedMask;
        uint256 m = _members.length;
        for (uint256 j = 0; j < m; j++) {
            address a = _members[j];
            Client storage c = _clients[a];
            if (c.commitRound != round || c.flags & FLAG_REVEALED == 0) continue;
            _judge(t, a, c.revealOrder, uint256(c.reputation) * c.samples);
        }
    }

    /// @dev Majority of the members who voted decides update `i`; a member does not judge its own update.
    function _judge(Tally memory t, address trainer, uint256 i, uint256 weight) internal pure {
        t.trainer[i] = trainer;
        uint256 k = t.committee.length;
        uint256 yes = 0;
        uint256 cast = 0;
        for (uint256 s = 0; s < k; s++) {
            if ((t.voted >> s) & 1 == 0 || t.committee[s] == trainer) continue;
            cast += 1;
            if ((t.votes[s * t.words + i / 256] >> (i % 256)) & 1 == 1) yes += 1;
        }
        if (cast == 0) {
            t.outcome[i] = uint8(TrainerOutcome.Unvalidated);
            return;
        }
        bool ok = yes * 2 > cast;
        if (ok) {
            t.outcome[i] = uint8(TrainerOutcome.Accepted);
            t.accepted[i / 256] |= uint256(1) << (i % 256);
            t.acceptedCount += 1;
            t.weightSum += weight;
        } else {
            t.outcome[i] = uint8(TrainerOutcome.Rejected);
        }
        for (uint256 s = 0; s < k; s++) {
            if ((t.voted >> s) & 1 == 0 || t.committee[s] == trainer) continue;
            bool bitSet = (t.votes[s * t.words + i / 256] >> (i % 256)) & 1 == 1;
            if (bitSet == ok) t.agree[s] += 1;
            else t.disagree[s] += 1;
        }
    }

    function _settle(uint256 round, Round storage r, Tally memory t) internal returns (uint256 paid) {
        uint256 reward = r.reward;
        uint256 validatorPot = (reward * VALIDATOR_SHARE_BPS) / BPS;
        uint256 trainerPot = reward - validatorPot;
        uint256 n = t.trainer.length;
        for (uint256 i = 0; i < n; i++) {
            Client storage c = _clients[t.trainer[i]];
            uint8 o = t.outcome[i];
            uint256 earned = 0;
            uint256 slashed = 0;
            if (o == uint8(TrainerOutcome.Accepted)) {
                if (t.weightSum > 0) earned = (trainerPot * uint256(c.reputation) * c.samples) / t.weightSum;
                c.reputation = _repUp(c.reputation, REP_ACCEPTED_UP);
            } else if (o == uint8(TrainerOutcome.Rejected)) {
                slashed = _slash(c);
                c.reputation = _repDown(c.reputation, REP_REJECTED_DOWN);
            }
            if (earned > 0) _credit(t.trainer[i], earned);
            paid += earned;
            emit TrainerSettled(round, t.trainer[i], TrainerOutcome(o), c.reputation, earned, slashed);
        }
        _settleSilentCommitters(round, r.commitCount - r.revealCount);
        paid += _settleValidators(round, r.votedMask, t, validatorPot);
    }

    function _settleSilentCommitters(uint256 round, uint256 silent) internal {
        uint256 m = _members.length;
        for (uint256 j = 0; j < m && silent > 0; j++) {
            address a = _members[j];
            Client storage c = _clients[a];
            if (c.commitRound != round || c.flags & FLAG_REVEALED != 0) continue;
            silent -= 1;
            uint256 slashed = _slash(c);
            c.reputation = _repDown(c.reputation, REP_SILENT_COMMITTER_DOWN);
            emit TrainerSettled(round, a, TrainerOutcome.SilentCommitter, c.reputation, 0, slashed);
        }
    }

    function _settleValidators(
        uint256 round,
        uint64 voted,
        Tally memory t,
        uint256 pot
    ) internal returns (uint256 paid) {
        uint256 k = t.committee.length;
        uint256 winners = 0;
        for (uint256 s = 0; s < k; s++) {
            if ((voted >> s) & 1 == 1 && t.agree[s] >= t.disagree[s]) winners += 1;
        }
        uint256 share = winners > 0 ? pot / winners : 0;
        for (uint256 s = 0; s < k; s++) {
            Client storage c = _clients[t.committee[s]];
            ValidatorOutcome o;
            uint256 earned = 0;
            uint256 slashed = 0;
            if ((voted >> s) & 1 == 0) {
                o = ValidatorOutcome.Silent;
                slashed = _slash(c);
                c.reputation = _repDown(c.reputation, REP_SILENT_VALIDATOR_DOWN);
            } else if (t.agree[s] >= t.disagree[s]) {
                o = ValidatorOutcome.Majority;
                earned = share;
                c.reputation = _repUp(c.reputation, REP_VALIDATOR_MAJORITY_UP);
            } else {
                o = ValidatorOutcome.Minority;
                c.reputation = _repDown(c.reputation, REP_VALIDATOR_MINORITY_DOWN);
            }
            if (earned > 0) _credit(t.committee[s], earned);
            paid += earned;
            emit ValidatorSettled(round, t.committee[s], o, c.reputation, earned, slashed);
        }
    }

    function _slash(Client storage c) internal returns (uint256 amount) {
        amount = (uint256(c.stake) * slashFractionBps) / BPS;
        if (amount == 0) return 0;
        c.stake -= uint96(amount);
        totalStaked -= amount;
        pool += amount;
    }

    function _credit(address account, uint256 amount) internal {
        _balances[account].amount += uint128(amount);
        totalWithdrawable += amount;
    }

    function _repUp(uint32 rep, uint32 by) internal pure returns (uint32) {
        return rep + by > MAX_REPUTATION ? MAX_REPUTATION : rep + by;
    }

    function _repDown(uint32 rep, uint32 by) internal pure returns (uint32) {
        return rep > by ? rep - by : 0;
    }

    function _popcount(uint64 x) internal pure returns (uint256 c) {
        while (x != 0) {
            x &= x - 1;
            c += 1;
        }
    }

    function _votesOf(uint256 round, Round storage r) internal view returns (uint256[] memory votes) {
        uint256 words = (uint256(r.revealCount) + 255) / 256;
        uint256 k = r.committeeLen;
        votes = new uint256[](k * words);
        for (uint256 i = 0; i < votes.length; i++) votes[i] = _votes[round][i];
    }

    function _participantsOf(uint256 round) internal view returns (ParticipantView[] memory out) {
        uint256 m = _members.length;
        ParticipantView[] memory tmp = new ParticipantView[](m);
        uint256 count = 0;
        for (uint256 j = 0; j < m; j++) {
            address a = _members[j];
            Client storage c = _clients[a];
            if (c.commitRound != round || round == 0) continue;
            tmp[count++] = ParticipantView({
                client: a,
                digest: _digests[round][a],
                revealed: c.flags & FLAG_REVEALED != 0,
                revealOrder: c.revealOrder,
                samples: c.samples
            });
        }
        out = new ParticipantView[](count);
        for (uint256 j = 0; j < count; j++) out[j] = tmp[j];
    }

    function _send(address to, uint256 amount) internal {
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, ) = payable(to).call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }
}
