// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title StakeTree
/// @notice A Fenwick (binary indexed) tree of member stakes: O(log n) update and stake-weighted sampling,
///         so drawing a committee never scans the membership. Written by hand: neither OpenZeppelin nor
///         solmate ships a sum tree with weighted search.
/// @dev Indices run from 1 to CAPACITY. Node i holds the sum of the weights in (i - lowbit(i), i] for every
///      i up to `cap`, the smallest power of two covering every index used: updates walk log2(cap) nodes,
///      not log2(CAPACITY), so a small federation pays for a small tree.
library StakeTree {
    /// @notice Largest number of member slots (slots of members who left are reused).
    uint256 internal constant CAPACITY = 1 << 20;

    struct Tree {
        mapping(uint256 index => uint256 partialSum) nodes;
        uint256 total; // sum of all weights
        uint256 size; // highest index ever used
        uint256 cap; // power of two >= size; nodes above it are not kept
    }

    /// @notice The index is 0 or above CAPACITY.
    error IndexOutOfRange(uint256 index);

    /// @notice Take the next never-used slot (its weight starts at zero).
    function reserveNext(Tree storage t) internal returns (uint256 index) {
        index = t.size + 1;
        if (index > CAPACITY) revert IndexOutOfRange(index);
        t.size = index;
        if (index > t.cap) _grow(t, t.cap, index);
    }

    /// @notice Add `amount` to the weight at `index`.
    function add(Tree storage t, uint256 index, uint256 amount) internal {
        if (index == 0 || index > CAPACITY) revert IndexOutOfRange(index);
        if (index > t.size) t.size = index;
        uint256 cap = t.cap;
        if (index > cap) cap = _grow(t, cap, index);
        t.total += amount;
        for (uint256 i = index; i <= cap; i += i & (~i + 1)) t.nodes[i] += amount;
    }

    /// @notice Take `amount` from the weight at `index` (reverts on underflow).
    function sub(Tree storage t, uint256 index, uint256 amount) internal {
        if (index == 0 || index > CAPACITY) revert IndexOutOfRange(index);
        t.total -= amount;
        uint256 cap = t.cap;
        for (uint256 i = index; i <= cap; i += i & (~i + 1)) t.nodes[i] -= amount;
    }

    /// @notice The index whose weight interval [prefix(index - 1), prefix(index)) contains `x` (x < total).
    /// @dev Descends from the highest power of two not above `size`: nodes past `size` only repeat `total`.
    function find(Tree storage t, uint256 x) internal view returns (uint256 index) {
        uint256 step = 1;
        uint256 size = t.size;
        while (step << 1 <= size) step <<= 1;
        uint256 pos = 0;
        uint256 cap = t.cap;
        for (; step > 0; step >>= 1) {
            uint256 next = pos + step;
            if (next <= cap) {
                uint256 node = t.nodes[next];
                if (node <= x) {
                    pos = next;
                    x -= node;
                }
            }
        }
        return pos + 1;
    }

    /// @dev Double `cap` until it covers `index`. Node 2C covers (0, 2C], i.e. every weight so far; the nodes
    ///      between C and 2C cover only unused (zero) indices, so they are already right at zero.
    function _grow(Tree storage t, uint256 cap, uint256 index) private returns (uint256) {
        if (cap == 0) {
            cap = 1;
            t.nodes[1] = t.total;
        }
        while (cap < index) {
            cap <<= 1;
            t.nodes[cap] = t.total;
        }
        t.cap = cap;
        return cap;
    }
}
