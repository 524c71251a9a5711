package live

import (
	"errors"
	"fmt"
)

var (
	// ErrNoStorage: the config gives live deployments no storage.
	ErrNoStorage = errors.New("live deployments are unavailable: no storage")
	// ErrNotLoaded: no provisioned handler serves the worker.
	ErrNotLoaded = errors.New("the worker is not loaded")
	// ErrNoHistory: a rollback without a version has nothing to go back to.
	ErrNoHistory = errors.New("no deployment history to roll back in")
	// ErrStorage: the storage did not answer, or failed.
	ErrStorage = errors.New("the storage failed")
	// ErrCorrupt: the stored state document cannot be decoded. The next
	// change replaces it.
	ErrCorrupt = errors.New("the stored live state is corrupt")
)

// InvalidError is a change that the rules or this node refuse: an unknown
// version, a bad split, a version that does not load.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// Invalidf returns an *InvalidError.
func Invalidf(format string, args ...any) error {
	return &InvalidError{fmt.Errorf(format, args...)}
}

// NotAppliedError is a change that was stored but that this node failed
// to apply; it keeps serving what it served before.
type NotAppliedError struct{ Err error }

func (e *NotAppliedError) Error() string {
	return "stored, but this node failed to apply it and serves what it served before: " + e.Err.Error()
}
func (e *NotAppliedError) Unwrap() error { return e.Err }
