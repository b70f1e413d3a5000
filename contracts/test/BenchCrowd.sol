// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice The federation entry points the crowd drives (benchmark only).
interface IBenchFederation {
    function register() external payable;
    function commitUpdate(uint256 round, bytes32 commitment) external;
    function revealUpdate(uint256 round, bytes32 cidDigest, bytes32 salt, uint32 samples) external;
}

/// @title BenchMember
/// @notice Benchmark only: the code behind every crowd member. Each member is an EIP-1167 clone of this
///         contract, so the federation sees a distinct `msg.sender` per member; only the crowd may drive it.
contract BenchMember {
    address private immutable CROWD;

    /// @notice Someone other than the crowd called a member.
    error NotCrowd(address caller);

    constructor() {
        CROWD = msg.sender;
    }

    /// @notice Call `target` with `data` and the ETH sent, as this member; bubbles up a revert.
    /// @param target the contract to call
    /// @param data the calldata
    function exec(address target, bytes calldata data) external payable {
        if (msg.sender != CROWD) revert NotCrowd(msg.sender);
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory ret) = target.call{value: msg.value}(data);
        if (!ok) {
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    /// @notice Accept withdrawals from the federation.
    receive() external payable {}
}

/// @title BenchCrowd
/// @notice Benchmark only (benchmarks/gas.py): creates many members and registers, commits and reveals
///         for many of them in one transaction, so 100,000 members and 10,000 updates take minutes on a
///         local chain. Gas of single-member transactions is measured elsewhere, never through this.
/// @dev Member `i` is the CREATE2 clone with salt `i`; its update of round `r` is
///      `cid = keccak256(abi.encode("cid", r, member))`, `salt = keccak256(abi.encode("salt", r, member))`,
///      `samples = SAMPLES`, so the caller only names the members.
contract BenchCrowd {
    /// @notice Samples every crowd update claims.
    uint32 public constant SAMPLES = 100;
    /// @notice The code behind every member.
    BenchMember public immutable IMPLEMENTATION;

    /// @notice A clone could not be created.
    error CloneFailed(uint256 id);

    constructor() {
        IMPLEMENTATION = new BenchMember();
    }

    /// @notice Accept ETH for stakes.
    receive() external payable {}

    /// @notice Create members `from` .. `to - 1` and register each with `stake` wei of this contract's ETH.
    /// @param federation the federation
    /// @param from first member id
    /// @param to one past the last member id
    /// @param stake stake per member (wei)
    function spawnAndRegister(IBenchFederation federation, uint256 from, uint256 to, uint256 stake) external {
        bytes memory initCode = _initCode();
        bytes memory call = abi.encodeCall(IBenchFederation.register, ());
        for (uint256 id = from; id < to; id++) {
            address member;
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                member := create2(0, add(initCode, 32), mload(initCode), id)
            }
            if (member == address(0)) revert CloneFailed(id);
            BenchMember(payable(member)).exec{value: stake}(address(federation), call);
        }
    }

    /// @notice Commit the standard update of `round` for each member.
    /// @param federation the federation
    /// @param round the open round
    /// @param members crowd members (clones of this crowd)
    function commitMany(IBenchFederation federation, uint256 round, address[] calldata members) external {
        for (uint256 i = 0; i < members.length; i++) {
            address m = members[i];
            (bytes32 cid, bytes32 salt) = updateOf(round, m);
            bytes32 commitment = keccak256(abi.encode(cid, salt, SAMPLES, m, round));
            BenchMember(payable(m)).exec(
                address(federation),
                abi.encodeCall(IBenchFederation.commitUpdate, (round, commitment))
            );
        }
    }

    /// @notice Reveal the standard update of `round` for each member.
    /// @param federation the federation
    /// @param round the round in its reveal phase
    /// @param members crowd members that committed
    function revealMany(IBenchFederation federation, uint256 round, address[] calldata members) external {
        for (uint256 i = 0; i < members.length; i++) {
            address m = members[i];
            (bytes32 cid, bytes32 salt) = updateOf(round, m);
            BenchMember(payable(m)).exec(
                address(federation),
                abi.encodeCall(IBenchFederation.revealUpdate, (round, cid, salt, SAMPLES))
            );
        }
    }

    /// @notice The address member `id` has (or will have).
    /// @param id the member id
    /// @return the clone's address
    function memberAddress(uint256 id) external view returns (address) {
        bytes32 h = keccak256(abi.encodePacked(bytes1(0xff), address(this), id, keccak256(_initCode())));
        return address(uint160(uint256(h)));
    }

    /// @notice The update a crowd member commits in `round`.
    /// @param round the round
    /// @param member the member
    /// @return cid the update's CID digest
    /// @return salt the commitment salt
    function updateOf(uint256 round, address member) public pure returns (bytes32 cid, bytes32 salt) {
        cid = keccak256(abi.encode("cid", round, member));
        salt = keccak256(abi.encode("salt", round, member));
    }

    /// @dev EIP-1167 minimal proxy creation code delegating to `IMPLEMENTATION`.
    function _initCode() private view returns (bytes memory) {
        return
            abi.encodePacked(
                hex"3d602d80600a3d3981f3363d3d373d3d3d363d73",
                address(IMPLEMENTATION),
                hex"5af43d82803e903d91602b57fd5bf3"
            );
    }
}
