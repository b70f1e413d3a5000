// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ModelSpecRegistry
/// @notice Records the digest of each model specification (qubits, layers, encoding, ...) and who published it,
///         so every node can build the same circuit from the spec CID.
contract ModelSpecRegistry {
    /// @notice Publisher of each spec digest (zero address when unknown).
    mapping(bytes32 specDigest => address publisher) public publisherOf;

    /// @notice Emitted when a spec digest is recorded for the first time.
    event SpecPublished(bytes32 indexed specDigest, address indexed publisher);

    /// @notice The spec digest was already published.
    error SpecAlreadyPublished(bytes32 specDigest);
    /// @notice The zero digest is not a spec.
    error EmptySpec();

    /// @notice Record `specDigest` (sha2-256 digest of the spec's CIDv0) as published by the caller.
    /// @param specDigest the 32-byte multihash digest of the spec CID
    function publish(bytes32 specDigest) external {
        if (specDigest == bytes32(0)) revert EmptySpec();
        if (publisherOf[specDigest] != address(0)) revert SpecAlreadyPublished(specDigest);
        publisherOf[specDigest] = msg.sender;
        emit SpecPublished(specDigest, msg.sender);
    }
}
