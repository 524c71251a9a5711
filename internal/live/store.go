package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/caddy-gradual/gradual/internal/api"
)

// Storage is the part of Caddy's storage that live deployments use;
// certmagic.Storage satisfies it.
type Storage interface {
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string, recursive bool) ([]string, error)
}

// store reads and writes one worker's documents:
//
//	gradual/workers/<name>/state.json         the State, small
//	gradual/workers/<name>/scripts/<sha256>   each upload's script
//	gradual/workers/<name>/nodes/<node>.json  each node's heartbeat
type store struct {
	s    Storage
	name string
}

func (s store) prefix() string            { return "gradual/workers/" + s.name }
func (s store) stateKey() string          { return s.prefix() + "/state.json" }
func (s store) scriptKey(h string) string { return s.prefix() + "/scripts/" + h }
func (s store) nodesKey() string          { return s.prefix() + "/nodes" }
func (s store) lockName() string          { return "gradual_" + s.name }

// load reads the state. A missing document is an empty state; one that
// cannot be decoded is ErrCorrupt.
func (s store) load(ctx context.Context) (*State, error) {
	raw, err := s.s.Load(ctx, s.stateKey())
	if errors.Is(err, fs.ErrNotExist) {
		return s.bind(new(State)), nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: loading the live state of worker %s: %w", ErrStorage, s.name, err)
	}
	st := new(State)
	if err := json.Unmarshal(raw, st); err != nil {
		return nil, fmt.Errorf("%w: worker %s: %v", ErrCorrupt, s.name, err)
	}
	return s.bind(st), nil
}

// bind lets st fetch its scripts from the storage.
func (s store) bind(st *State) *State {
	st.scripts = func(hash string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
		defer cancel()
		return s.script(ctx, hash)
	}
	return st
}

// script fetches a script by hash and checks that it is the one named.
func (s store) script(ctx context.Context, hash string) (string, error) {
	raw, err := s.s.Load(ctx, s.scriptKey(hash))
	if err != nil {
		return "", fmt.Errorf("%w: loading script %s: %w", ErrStorage, hash, err)
	}
	if hashScript(string(raw)) != hash {
		return "", fmt.Errorf("%w: script %s does not match its hash", ErrCorrupt, hash)
	}
	return string(raw), nil
}

// save writes the scripts of st's new uploads, then st itself (without
// the scripts), then deletes the scripts that prev named and st does not.
// It runs under the storage lock, so a script cannot be deleted while a
// concurrent change names it.
func (s store) save(ctx context.Context, prev, st *State) error {
	doc := st.Clone()
	for i, u := range doc.Uploads {
		if u.Script == "" {
			continue
		}
		if u.ScriptHash == "" {
			u.ScriptHash, u.ScriptSize = hashScript(u.Script), len(u.Script)
		}
		if err := s.s.Store(ctx, s.scriptKey(u.ScriptHash), []byte(u.Script)); err != nil {
			return fmt.Errorf("%w: storing script %s: %w", ErrStorage, u.ScriptHash, err)
		}
		u.Script = ""
		doc.Uploads[i] = u
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if err := s.s.Store(ctx, s.stateKey(), raw); err != nil {
		return fmt.Errorf("%w: storing the live state: %w", ErrStorage, err)
	}
	if prev == nil {
		return nil
	}
	kept := map[string]bool{}
	for _, u := range doc.Uploads {
		kept[u.ScriptHash] = true
	}
	for _, u := range prev.Uploads {
		if u.ScriptHash != "" && !kept[u.ScriptHash] {
			// A script left behind costs space only; the state is stored.
			_ = s.s.Delete(ctx, s.scriptKey(u.ScriptHash))
		}
	}
	return nil
}

// Node is one node's heartbeat in the fleet view, stored as the API shows
// it. Gone is set when reading: the node has not been seen for 3 poll
// intervals.
type Node = api.Node

func (s store) nodeKey(id string) string {
	return path.Join(s.nodesKey(), strings.NewReplacer("/", "_", "\\", "_").Replace(id)+".json")
}

func (s store) putNode(ctx context.Context, n Node) error {
	raw, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return s.s.Store(ctx, s.nodeKey(n.ID), raw)
}

// nodes reads every node's heartbeat. Records that cannot be read are
// skipped: one node's bad record must not hide the others.
func (s store) nodes(ctx context.Context) ([]Node, error) {
	keys, err := s.s.List(ctx, s.nodesKey(), false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: listing the nodes of worker %s: %w", ErrStorage, s.name, err)
	}
	var out []Node
	for _, k := range keys {
		raw, err := s.s.Load(ctx, k)
		if err != nil {
			continue
		}
		var n Node
		if json.Unmarshal(raw, &n) == nil && n.ID != "" {
			out = append(out, n)
		}
	}
	return out, nil
}
