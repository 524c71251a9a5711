// Package live is the control plane of live deployments: the versions
// uploaded and the deployments made through the admin API, kept per worker
// in a storage shared by every node (Caddy's storage), so that they survive
// restarts and every node converges on them.
//
// A State is a plain value, changed by the rules in state.go. A Worker owns
// one worker's state on this node: Update validates a change by having the
// newest Applier (a provisioned handler) load it, stores it, and applies it
// to every Applier before it returns; Poll picks up the changes other nodes
// made and writes this node's heartbeat for the fleet view.
//
// Ordering: a State carries a Seq, taken from the Worker before a read
// starts or after a write completes, and an Applier ignores a state whose
// Seq is not above the one it applied. A poll that read change N before an
// Update stored N+1 therefore cannot install N over N+1. Stored documents
// are told apart by a random Change ID, never by a counter, so a storage
// that was deleted, replaced or restored is simply read as it is.
//
// Errors are values (ErrNoStorage, ErrNotLoaded, ErrNoHistory, ErrStorage,
// ErrCorrupt, *InvalidError, *NotAppliedError); the admin API maps them to
// statuses.
package live
