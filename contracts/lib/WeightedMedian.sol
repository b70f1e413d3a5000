// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title WeightedMedian
/// @notice Lower and upper weighted median of at most 64 (score, weight) pairs: the committee's combined
///         score of one update. Written by hand: no audited library has one for small in-memory arrays.
library WeightedMedian {
    /// @notice `lo` = smallest score s with 2 * weight(score <= s) >= total; `hi` = smallest with `>`.
    /// @dev lo == hi unless the weights split exactly in half (a tie): callers treat lo != hi across a
    ///      threshold as undecided. Insertion sort: n <= 64, cheaper than anything cleverer at that size.
    /// @param scores one score per voter, 0..255
    /// @param weights the voter's seats (> 0); `total` must equal their sum
    function bounds(
        uint8[] memory scores,
        uint256[] memory weights,
        uint256 total
    ) internal pure returns (uint256 lo, uint256 hi) {
        uint256 n = scores.length;
        for (uint256 i = 1; i < n; i++) {
            uint8 s = scores[i];
            uint256 w = weights[i];
            uint256 j = i;
            while (j > 0 && scores[j - 1] > s) {
                scores[j] = scores[j - 1];
                weights[j] = weights[j - 1];
                j--;
            }
            scores[j] = s;
            weights[j] = w;
        }
        uint256 acc = 0;
        bool loFound = false;
        for (uint256 i = 0; i < n; i++) {
            acc += weights[i];
            if (!loFound && acc * 2 >= total) {
                lo = scores[i];
                loFound = true;
            }
            if (acc * 2 > total) return (lo, scores[i]);
        }
        return (lo, lo);
    }
}
