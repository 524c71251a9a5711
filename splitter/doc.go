// Package splitter splits traffic between the versions of a worker by
// percentage, and chooses the version that serves a request.
//
// A [Deployment] is an immutable list of version IDs with their shares of
// traffic. Shares are [Weight] values in hundredths of a percent, so every
// percentage with up to two decimals (such as 12.5% or 33.33%) is exact and a
// deployment is valid only when its weights add up to exactly [Total] (100%).
// Versions are kept sorted by ID, so nothing depends on the order in which a
// deployment was written.
//
// # Sticky picks
//
// [Deployment.PickKey] maps an affinity key (a session, a user ID, a
// Cloudflare-Workers-Version-Key header) to a version with weighted
// rendezvous hashing. The key is hashed with xxhash64. Every version with a
// non-zero weight w gets a pseudo-random number u in (0, 1) from a 64-bit
// mix (the MurmurHash3 finaliser) of the key hash XOR the xxhash64 of its own
// ID, and the score -log2(u)/w; the lowest score wins, and an exact tie goes
// to the lowest ID. Because -log2(u)/w is exponentially distributed with a
// rate proportional to w, each version wins for a share of keys equal to its
// share of the total weight. This is the classic w/-ln(u) rendezvous score
// turned upside down: the base of the logarithm scales every score alike, so
// it changes no pick.
//
// The logarithm is computed in 64-bit fixed point from a small table with
// linear interpolation, and scores are compared by cross-multiplying with
// the weights, so a pick involves no floating point and no division. That
// makes it fast (tens of nanoseconds) and bit-for-bit identical on every
// architecture and Go release, which floating-point logarithms do not
// promise.
//
// This gives users the guarantees they need for gradual deployments:
//
//   - The same key and deployment give the same version in every process, on
//     every machine and after every restart: no random seed is involved, and
//     the hash is pinned by golden tests.
//   - The order of the versions in the deployment does not matter.
//   - A version at 0% never gets a key, and adding or removing a version at 0%
//     changes no pick.
//   - Raising one version's percentage while the others keep their ratios to
//     each other (with two versions they always do) moves keys only to that
//     version. Likewise, adding a version moves keys only to it, and removing
//     one moves only the keys it had.
//   - Over many keys, each version's share of keys is close to its
//     percentage: within one percentage point over 100,000 random keys.
//
// When the other versions do not keep their ratios, some keys also move among
// them: when 50/30/20 becomes 40/40/20, about 12% of keys move, where 10%
// would be the least possible.
//
// # Random picks
//
// Requests without a key use [Deployment.PickRandom], which draws a uniform
// number in [0, Total) and maps it through the cumulative weights, so each
// version serves its percentage of requests.
package splitter
