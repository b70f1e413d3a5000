// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {StakeTree} from "../lib/StakeTree.sol";

/// @title StakeTreeHarness
/// @notice Test-only: exposes the StakeTree library so its search can be checked against a linear scan.
contract StakeTreeHarness {
    StakeTree.Tree internal _tree;

    /// @notice Add weight at an index.
    /// @param index slot from 1
    /// @param amount weight to add
    function add(uint256 index, uint256 amount) external {
        StakeTree.add(_tree, index, amount);
    }

    /// @notice Take the next never-used slot.
    function reserveNext() external {
        StakeTree.reserveNext(_tree);
    }

    /// @notice Take weight from an index.
    /// @param index slot from 1
    /// @param amount weight to take
    function sub(uint256 index, uint256 amount) external {
        StakeTree.sub(_tree, index, amount);
    }

    /// @notice The slot whose weight interval holds `x`.
    /// @param x a point below the total
    /// @return the slot
    function find(uint256 x) external view returns (uint256) {
        return StakeTree.find(_tree, x);
    }

    /// @notice Sum of all weights.
    /// @return the total
    function total() external view returns (uint256) {
        return _tree.total;
    }
}
